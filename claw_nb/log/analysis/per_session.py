"""Per session: the summary row, where the time went, models or prompts side by side, and
one session's calls in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claw_nb.log.analysis.sql import Db, SessionIds, Since, connection, query, session_filter

if TYPE_CHECKING:  # pragma: no cover
    import pandas


# The columns of `sessions()` that fit a terminal (`claw-nb stats`).
SESSION_COLUMNS_SHORT = [
    "session_id",
    "started_at",
    "model",
    "steps",
    "stop_reason",
    "total_tokens",
    "prefill_tokens",
    "cache_breaks",
    "peak_prompt_tokens",
    "tool_calls",
    "tool_errors",
    "model_ms",
    "tool_ms",
    "wall_s",
    "tokens_per_s",
    "task",
]


# One row per session with everything the summaries and comparisons need. `{llm}`, `{tools}`,
# `{compactions}` and `{sessions}` take the filter conditions.
_PER_SESSION = """
WITH l AS (
    SELECT session_id, count(*) AS llm_calls, sum(prompt_tokens) AS prompt_tokens,
           sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
           max(prompt_tokens) AS peak_prompt_tokens, sum(latency_ms) AS model_ms,
           sum(CASE WHEN latency_ms - coalesce(ttft_ms, 0) > 0 AND completion_tokens > 0
                    THEN completion_tokens END) AS gen_tokens,
           sum(CASE WHEN latency_ms - coalesce(ttft_ms, 0) > 0 AND completion_tokens > 0
                    THEN latency_ms - coalesce(ttft_ms, 0) END) AS gen_ms,
           sum(cost_usd) AS cost_usd,
           -- what the server read; a call it said nothing of: its whole prompt if answered
           sum(coalesce(prefill_tokens, CASE WHEN error IS NULL THEN prompt_tokens ELSE 0 END))
               AS prefill_tokens,
           sum(prefill_s) AS prefill_s, sum(decode_s) AS decode_s,
           count(*) FILTER (WHERE cache_break) AS cache_breaks
    FROM llm_calls WHERE true {llm} GROUP BY session_id),
t AS (
    SELECT session_id, count(*) AS tool_calls, count(*) FILTER (WHERE NOT ok) AS tool_errors,
           sum(duration_ms) AS tool_ms
    FROM tool_calls WHERE true {tools} GROUP BY session_id),
c AS (
    SELECT session_id, count(*) AS compactions,
           sum(summary_prompt_tokens) FILTER (WHERE summary_calls > 0) AS summary_prompt_tokens
    FROM compactions WHERE true {compactions} GROUP BY session_id),
per_session AS (
    SELECT s.session_id, s.started_at, s.ended_at, s.model, s.system_prompt_name,
           s.system_prompt_sha, s.task, coalesce(s.steps, 0) AS steps, s.stop_reason,
           coalesce(l.llm_calls, 0)::BIGINT AS llm_calls,
           coalesce(l.prompt_tokens, 0)::BIGINT AS prompt_tokens,
           coalesce(l.completion_tokens, 0)::BIGINT AS completion_tokens,
           coalesce(l.prompt_tokens + l.completion_tokens, 0)::BIGINT AS total_tokens,
           l.cached_tokens::BIGINT AS cached_tokens,
           l.peak_prompt_tokens::BIGINT AS peak_prompt_tokens,
           (coalesce(l.prefill_tokens, 0) + coalesce(c.summary_prompt_tokens, 0))::BIGINT
               AS prefill_tokens,
           round(l.prefill_s, 3) AS prefill_s, round(l.decode_s, 3) AS decode_s,
           coalesce(l.cache_breaks, 0)::BIGINT AS cache_breaks,
           coalesce(t.tool_calls, 0)::BIGINT AS tool_calls,
           coalesce(t.tool_errors, 0)::BIGINT AS tool_errors,
           round(t.tool_errors / nullif(t.tool_calls, 0), 4) AS tool_error_rate,
           round(coalesce(l.model_ms, 0), 1) AS model_ms,
           round(coalesce(t.tool_ms, 0), 1) AS tool_ms,
           round(epoch(s.ended_at - s.started_at), 3) AS wall_s,
           round(l.model_ms / nullif(l.llm_calls, 0), 1) AS mean_latency_ms,
           round(l.gen_tokens / nullif(l.gen_ms / 1000, 0), 1) AS tokens_per_s,
           l.cost_usd,
           coalesce(c.compactions, 0)::BIGINT AS compactions,
           l.gen_tokens, l.gen_ms
    FROM sessions s LEFT JOIN l USING (session_id) LEFT JOIN t USING (session_id)
         LEFT JOIN c USING (session_id)
    WHERE true {sessions})
"""


def _per_session(session_id: SessionIds, since: Since) -> tuple[str, list[Any]]:
    """The ``per_session`` CTE with the filters applied to each table, and its parameters."""
    params: list[Any] = []
    parts = {}
    for name in ("llm", "tools", "compactions", "sessions"):
        sql, p = session_filter(
            session_id, since, "s.session_id" if name == "sessions" else "session_id"
        )
        parts[name] = sql
        params += p
    return _PER_SESSION.format(**parts), params


def sessions(db: Db = None, session_id: SessionIds = None, since: Since = None) -> pandas.DataFrame:
    """Per-session summary, oldest first.

    Columns: session_id, started_at, ended_at, model, system_prompt_name, system_prompt_sha,
    task, steps, stop_reason (NULL while running), llm_calls, prompt_tokens, completion_tokens,
    total_tokens, cached_tokens, peak_prompt_tokens (the biggest request), prefill_tokens
    (prompt tokens the server read: its own figure, else an answered call's whole prompt; and
    the prompts of compaction summaries),
    prefill_s and decode_s (the server's seconds, NULL when it did not say), cache_breaks
    (requests that did not extend the previous one: `claw_nb.request_prefix`), tool_calls,
    tool_errors, tool_error_rate, model_ms, tool_ms, wall_s, mean_latency_ms, tokens_per_s
    (completion tokens over the time after the first token), cost_usd, compactions.
    """
    cte, params = _per_session(session_id, since)
    sql = (
        cte
        + """
        SELECT * EXCLUDE (gen_tokens, gen_ms) FROM per_session
        ORDER BY started_at NULLS LAST, session_id"""
    )
    return query(sql, db, params)


def time_split(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Per session: seconds waiting for the model, in tool calls (permission prompts included),
    and everything else (start-up, the agent itself); and the model's and the tools' share of
    the wall time. ``wall_s`` and ``other_s`` are NaN while a session runs."""
    frame = sessions(db, session_id, since)
    out = frame[["session_id", "model", "stop_reason", "wall_s"]].copy()
    out["model_s"] = frame["model_ms"] / 1000
    out["tools_s"] = frame["tool_ms"] / 1000
    out["other_s"] = (out["wall_s"] - out["model_s"] - out["tools_s"]).clip(lower=0)
    wall = out["wall_s"].where(out["wall_s"] > 0)
    out["model_share"] = (out["model_s"] / wall).round(4)
    out["tools_share"] = (out["tools_s"] / wall).round(4)
    return out.reset_index(drop=True)


def compare(
    db: Db = None, by: str = "model", session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Models (``by="model"``) or system-prompt variants (``by="prompt"``: name and sha) side
    by side: sessions, completion rate, mean steps, tokens per session (prefill and cache
    breaks too), tool calls and error rate, mean latency, tokens per second (completion tokens
    over generation time), cost."""
    keys = {"model": "model", "prompt": "system_prompt_name, system_prompt_sha"}
    if by not in keys:
        raise ValueError(f"compare by 'model' or 'prompt', not {by!r}")
    group = keys[by]
    cte, params = _per_session(session_id, since)
    sql = (
        cte
        + f"""
        SELECT {group}, count(*) AS sessions,
               count(*) FILTER (WHERE stop_reason = 'completed') AS completed,
               round(avg(CASE WHEN stop_reason = 'completed' THEN 1 ELSE 0 END), 4)
                   AS completion_rate,
               round(avg(steps), 2) AS mean_steps,
               round(avg(total_tokens), 0) AS tokens_per_session,
               round(avg(prompt_tokens), 0) AS prompt_tokens_per_session,
               round(avg(completion_tokens), 0) AS completion_tokens_per_session,
               round(avg(prefill_tokens), 0) AS prefill_tokens_per_session,
               round(avg(cache_breaks), 2) AS cache_breaks_per_session,
               round(avg(tool_calls), 2) AS tool_calls_per_session,
               round(sum(tool_errors) / nullif(sum(tool_calls), 0), 4) AS tool_error_rate,
               round(sum(model_ms) / nullif(sum(llm_calls), 0), 1) AS mean_latency_ms,
               round(sum(gen_tokens) / nullif(sum(gen_ms) / 1000, 0), 1) AS tokens_per_s,
               round(sum(cost_usd), 6) AS cost_usd
        FROM per_session GROUP BY {group} ORDER BY sessions DESC, {group}"""
    )
    return query(sql, db, params)


def session_log(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """One session's model and tool calls interleaved by step (the latest session by default)."""
    with connection(db) as con:
        if session_id is None:
            row = con.execute(
                "SELECT session_id FROM sessions ORDER BY started_at DESC NULLS LAST LIMIT 1"
            ).fetchone()
            session_id = row[0] if row else ""
        return con.execute(
            """
            SELECT step, kind, name, ok, prompt_tokens, completion_tokens, ms, detail
            FROM (SELECT step, 'model' AS kind, model AS name, NULL::BOOLEAN AS ok,
                         prompt_tokens, completion_tokens, latency_ms AS ms,
                         finish_reason AS detail, created_at
                  FROM llm_calls WHERE session_id = $1
                  UNION ALL
                  SELECT step, 'tool', tool, ok, NULL, NULL, duration_ms,
                         concat_ws(' ', error_kind, decision), created_at
                  FROM tool_calls WHERE session_id = $1)
            ORDER BY step, kind, created_at""",
            [session_id],
        ).df()
