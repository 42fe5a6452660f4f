"""How the context grows and shrinks: tokens per model call, split by the request's parts,
and every compaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claw_nb.log.analysis.sql import Db, SessionIds, Since, query, session_filter

if TYPE_CHECKING:  # pragma: no cover
    import pandas


PARTS = ("system", "tools", "history", "tool_results")  # the request's parts, in llm_calls.parts


def tokens_per_step(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """How the context grows: one row per model call, in order, with the prompt's growth over
    the previous call and the running total of prompt tokens sent."""
    where, params = session_filter(session_id, since)
    sql = f"""
        SELECT session_id, step, model, system_prompt_name, message_count, prompt_tokens,
               prompt_tokens - lag(prompt_tokens) OVER w AS prompt_growth,
               completion_tokens, cached_tokens,
               (sum(prompt_tokens) OVER (w ROWS UNBOUNDED PRECEDING))::BIGINT
                   AS prompt_tokens_sent,
               round(latency_ms, 1) AS latency_ms, round(ttft_ms, 1) AS ttft_ms,
               round(tokens_per_s, 1) AS tokens_per_s, finish_reason, usage_source
        FROM llm_calls WHERE true {where}
        WINDOW w AS (PARTITION BY session_id ORDER BY step, created_at)
        ORDER BY session_id, step, created_at"""
    return query(sql, db, params)


_PART_COLUMNS = ",\n".join(
    f"round(TRY_CAST(json_extract_string(parts, '$.{p}') AS DOUBLE))::BIGINT AS {p}" for p in PARTS
)


def token_split(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Each request's tokens by part, one row per model call: system prompt, tool schemas,
    history, tool results (counted locally), their sum ``counted``, and ``prompt_tokens`` as the
    server reported them. Parts are NULL for calls logged without a split."""
    where, params = session_filter(session_id, since)
    total = " + ".join(f"coalesce({p}, 0)" for p in PARTS)
    sql = f"""
        SELECT *, CASE WHEN parts_known THEN {total} END AS counted
        FROM (SELECT session_id, step, model, system_prompt_name, {_PART_COLUMNS},
                     prompt_tokens, json_type(parts) = 'OBJECT' AND parts::VARCHAR <> '{{}}'
                         AS parts_known, created_at
              FROM llm_calls WHERE true {where})
        ORDER BY session_id, step, created_at"""
    frame = query(sql, db, params)
    return frame.drop(columns=["parts_known", "created_at"])


def tokens_by_part(
    db: Db = None, by: str = "session", session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Where the tokens go, in long form: one row per group and part (the JSON ``parts``
    unnested), with the calls, the tokens sent (summed over calls), the mean per call and the
    part's share of the group's counted tokens.

    ``by``: ``"session"``, ``"model"``, ``"prompt"`` (name and sha), ``"step"`` (session and
    step: one row per call and part, for stacked plots) or ``"all"``.
    """
    keys = {
        "session": ["session_id"],
        "model": ["model"],
        "prompt": ["system_prompt_name", "system_prompt_sha"],
        "step": ["session_id", "step"],
        "all": [],
    }
    if by not in keys:
        raise ValueError(f"tokens_by_part by one of {sorted(keys)}, not {by!r}")
    group = keys[by]
    where, params = session_filter(session_id, since)
    names = ", ".join(f"'{p}'" for p in PARTS)
    key_sql = "".join(f"{k}, " for k in group)
    order = ", ".join([*group, "list_position([" + names + "], part)"])
    partition = f"PARTITION BY {', '.join(group)}" if group else ""
    sql = f"""
        WITH long AS (
            SELECT session_id, step, model, system_prompt_name, system_prompt_sha,
                   unnest([{names}]) AS part,
                   unnest([{", ".join(p for p in PARTS)}]) AS tokens
            FROM (SELECT session_id, step, model, system_prompt_name, system_prompt_sha,
                         {_PART_COLUMNS}
                  FROM llm_calls
                  WHERE json_type(parts) = 'OBJECT' AND parts::VARCHAR <> '{{}}' {where}))
        SELECT {key_sql}part, count(*) AS calls, sum(coalesce(tokens, 0))::BIGINT AS tokens,
               round(avg(coalesce(tokens, 0)), 1) AS mean_per_call,
               round(sum(coalesce(tokens, 0)) / nullif(sum(sum(coalesce(tokens, 0)))
                     OVER ({partition}), 0), 4) AS share
        FROM long GROUP BY {key_sql}part ORDER BY {order}"""
    return query(sql, db, params)


def compactions(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Every context compaction: when, why, how, and the tokens before and after."""
    where, params = session_filter(session_id, since)
    sql = f"""
        SELECT session_id, step, created_at, reason, method, tokens_before, tokens_after,
               tokens_before - tokens_after AS tokens_saved, messages_before, messages_after,
               summary_tokens, window_tokens, limit_tokens, duration_ms, dropped
        FROM compactions WHERE true {where} ORDER BY created_at, session_id"""
    return query(sql, db, params)
