"""Questions about the log, answered as pandas DataFrames.

Where do the tokens go, how does the context grow, which tools fail, how much time is the model
versus the tools, and how do models and system-prompt variants compare.

Every function takes ``db``: a database path (default: ``CLAW_DB``, else
``.claw/claw.duckdb`` under the current directory) or an open connection from
``claw_nb.connect()``. Opening by path ingests pending journals first; a missing log raises
:class:`FileNotFoundError`. Most functions also filter:

- ``session_id``: one session id, or a list of them;
- ``since``: only sessions started at or after this time (a ``datetime``, ``date``, ISO
  string or ``pandas.Timestamp``; naive times are UTC, as in the log), or within the last
  ``timedelta``.

Raw SQL stays open: :func:`query`, or ``claw_nb.connect()`` for a DuckDB connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "ERROR_KINDS",
    "PARTS",
    "compactions",
    "compare",
    "export_parquet",
    "query",
    "session_log",
    "sessions",
    "time_split",
    "token_split",
    "tokens_by_part",
    "tokens_per_step",
    "tool_errors",
]

Db = Any  # a path, None (the default database) or a duckdb connection
SessionIds = Any  # a session id, a list of them, or None (every session)
Since = Any  # datetime, date, str, pandas.Timestamp, timedelta or None

PARTS = ("system", "tools", "history", "tool_results")  # the request's parts, in llm_calls.parts
ERROR_KINDS = ("malformed_json", "unknown_tool", "schema", "denied", "tool_error", "timeout")
BOOKKEEPING = ("schema_version", "journal_offsets", "journal_sessions")  # not exported
# The columns of `sessions()` that fit a terminal (`claw-nb stats`).
SESSION_COLUMNS_SHORT = [
    "session_id",
    "started_at",
    "model",
    "steps",
    "stop_reason",
    "total_tokens",
    "peak_prompt_tokens",
    "tool_calls",
    "tool_errors",
    "model_ms",
    "tool_ms",
    "wall_s",
    "tokens_per_s",
    "task",
]


# -- plumbing -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _connection(db: Db) -> Iterator[Any]:
    """``db`` itself if it is a connection; else the log at that path, closed afterwards."""
    if db is not None and hasattr(db, "execute") and not isinstance(db, (str, os.PathLike)):
        yield db
        return
    from claw_nb.log.database import DEFAULT_TIMEOUT, resolve_db_path
    from claw_nb.log.queries import reading

    with reading(db, DEFAULT_TIMEOUT) as con:
        if con is None:
            raise FileNotFoundError(f"no claw_nb log at {resolve_db_path(db)}; run a task first")
        yield con


def _since(value: Since) -> datetime | None:
    """``since`` as a naive UTC datetime (the log's timestamps are naive UTC)."""
    if value is None:
        return None
    import pandas as pd

    if isinstance(value, (timedelta, pd.Timedelta)):
        now = datetime.now(UTC).replace(tzinfo=None)
        return now - pd.Timedelta(value).to_pytimedelta()
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _filter(
    session_id: SessionIds, since: Since, column: str = "session_id"
) -> tuple[str, list[Any]]:
    """(``AND ...`` conditions on ``column``, their parameters) for the common filters."""
    sql, params = "", []
    if session_id is not None:
        ids = [session_id] if isinstance(session_id, str) else [str(s) for s in session_id]
        sql += f" AND {column} IN (SELECT unnest(?::VARCHAR[]))"
        params.append(ids)
    start = _since(since)
    if start is not None:
        sql += f" AND {column} IN (SELECT session_id FROM sessions WHERE started_at >= ?)"
        params.append(start)
    return sql, params


def query(sql: str, db: Db = None, params: list[Any] | None = None) -> pandas.DataFrame:
    """Any SQL over the log, as a DataFrame."""
    with _connection(db) as con:
        return con.execute(sql, params or []).df()


# -- per session --------------------------------------------------------------------------------

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
           sum(cost_usd) AS cost_usd
    FROM llm_calls WHERE true {llm} GROUP BY session_id),
t AS (
    SELECT session_id, count(*) AS tool_calls, count(*) FILTER (WHERE NOT ok) AS tool_errors,
           sum(duration_ms) AS tool_ms
    FROM tool_calls WHERE true {tools} GROUP BY session_id),
c AS (
    SELECT session_id, count(*) AS compactions FROM compactions WHERE true {compactions}
    GROUP BY session_id),
per_session AS (
    SELECT s.session_id, s.started_at, s.ended_at, s.model, s.system_prompt_name,
           s.system_prompt_sha, s.task, coalesce(s.steps, 0) AS steps, s.stop_reason,
           coalesce(l.llm_calls, 0)::BIGINT AS llm_calls,
           coalesce(l.prompt_tokens, 0)::BIGINT AS prompt_tokens,
           coalesce(l.completion_tokens, 0)::BIGINT AS completion_tokens,
           coalesce(l.prompt_tokens + l.completion_tokens, 0)::BIGINT AS total_tokens,
           l.cached_tokens::BIGINT AS cached_tokens,
           l.peak_prompt_tokens::BIGINT AS peak_prompt_tokens,
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
        sql, p = _filter(session_id, since, "s.session_id" if name == "sessions" else "session_id")
        parts[name] = sql
        params += p
    return _PER_SESSION.format(**parts), params


def sessions(db: Db = None, session_id: SessionIds = None, since: Since = None) -> pandas.DataFrame:
    """Per-session summary, oldest first.

    Columns: session_id, started_at, ended_at, model, system_prompt_name, system_prompt_sha,
    task, steps, stop_reason (NULL while running), llm_calls, prompt_tokens, completion_tokens,
    total_tokens, cached_tokens, peak_prompt_tokens (the biggest request), tool_calls,
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
    by side: sessions, completion rate, mean steps, tokens per session, tool calls and error
    rate, mean latency, tokens per second (completion tokens over generation time), cost."""
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
               round(avg(tool_calls), 2) AS tool_calls_per_session,
               round(sum(tool_errors) / nullif(sum(tool_calls), 0), 4) AS tool_error_rate,
               round(sum(model_ms) / nullif(sum(llm_calls), 0), 1) AS mean_latency_ms,
               round(sum(gen_tokens) / nullif(sum(gen_ms) / 1000, 0), 1) AS tokens_per_s,
               round(sum(cost_usd), 6) AS cost_usd
        FROM per_session GROUP BY {group} ORDER BY sessions DESC, {group}"""
    )
    return query(sql, db, params)


# -- per model call -----------------------------------------------------------------------------


def tokens_per_step(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """How the context grows: one row per model call, in order, with the prompt's growth over
    the previous call and the running total of prompt tokens sent."""
    where, params = _filter(session_id, since)
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
    where, params = _filter(session_id, since)
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
    where, params = _filter(session_id, since)
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


# -- tools --------------------------------------------------------------------------------------


def tool_errors(
    db: Db = None, session_id: SessionIds = None, since: Since = None, by: str = "kind"
) -> pandas.DataFrame:
    """Tool outcomes.

    ``by="kind"``: one row per tool and outcome (``ok`` or the error kind: malformed_json,
    unknown_tool, schema, denied, tool_error, timeout) with calls, share of the tool's calls,
    mean duration and result sizes before and after truncation.
    ``by="tool"``: one row per tool with calls, errors, error_rate, truncated results, mean
    duration, and a column per error kind counting its calls.
    """
    if by not in ("kind", "tool"):
        raise ValueError(f"tool_errors by 'kind' or 'tool', not {by!r}")
    where, params = _filter(session_id, since)
    if by == "kind":
        sql = f"""
            SELECT tool, CASE WHEN ok THEN 'ok' ELSE coalesce(error_kind, 'unknown') END
                       AS outcome,
                   count(*) AS calls,
                   round(count(*) / sum(count(*)) OVER (PARTITION BY tool), 4) AS share_of_tool,
                   round(avg(duration_ms), 2) AS mean_ms,
                   round(avg(result_chars), 0) AS mean_result_chars,
                   round(avg(result_chars_sent), 0) AS mean_chars_sent
            FROM tool_calls WHERE true {where}
            GROUP BY tool, outcome ORDER BY tool, calls DESC, outcome"""
        return query(sql, db, params)
    kinds = ", ".join(
        f"count(*) FILTER (WHERE NOT ok AND error_kind = '{k}') AS {k}" for k in ERROR_KINDS
    )
    known = ", ".join(f"'{k}'" for k in ERROR_KINDS)
    sql = f"""
        SELECT tool, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS errors,
               round(count(*) FILTER (WHERE NOT ok) / count(*), 4) AS error_rate,
               count(*) FILTER (WHERE result_chars_sent < result_chars) AS truncated,
               round(avg(duration_ms), 2) AS mean_ms, {kinds},
               count(*) FILTER (WHERE NOT ok AND (error_kind IS NULL
                                                  OR error_kind NOT IN ({known}))) AS other
        FROM tool_calls WHERE true {where}
        GROUP BY tool ORDER BY calls DESC, tool"""
    return query(sql, db, params)


def compactions(
    db: Db = None, session_id: SessionIds = None, since: Since = None
) -> pandas.DataFrame:
    """Every context compaction: when, why, how, and the tokens before and after."""
    where, params = _filter(session_id, since)
    sql = f"""
        SELECT session_id, step, created_at, reason, method, tokens_before, tokens_after,
               tokens_before - tokens_after AS tokens_saved, messages_before, messages_after,
               summary_tokens, window_tokens, limit_tokens, duration_ms, dropped
        FROM compactions WHERE true {where} ORDER BY created_at, session_id"""
    return query(sql, db, params)


def session_log(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """One session's model and tool calls interleaved by step (the latest session by default)."""
    with _connection(db) as con:
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


# -- sharing ------------------------------------------------------------------------------------


def export_parquet(db: Db = None, directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write every table of the log as ``<directory>/<table>.parquet``; the files written.

    ``export_parquet(db, directory)``; with one argument it is the directory and the log is
    the default one. Bookkeeping tables (schema version, journal offsets) are left out.
    """
    if directory is None:
        if db is None:
            raise TypeError("export_parquet needs a directory")
        db, directory = None, db
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with _connection(db) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND database_name = current_database() ORDER BY table_name"
            ).fetchall()
        ]
        for table in tables:
            if table in BOOKKEEPING or table.startswith("_"):
                continue
            path = out / f"{table}.parquet"
            literal = str(path).replace("'", "''")
            con.execute(f"COPY \"{table}\" TO '{literal}' (FORMAT parquet)")
            written.append(path)
    return written
