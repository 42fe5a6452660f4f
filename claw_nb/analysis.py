"""Questions about the log, answered as pandas DataFrames.

Where do the tokens go, how does the context grow, which tools fail, how much time is the model
versus the tools, and how do models and system-prompt variants compare. Every function takes
`db`: a database path (default: `CLAW_DB` or `.claw/claw.duckdb`), or an open DuckDB
connection from `claw_nb.connect()`. Raw SQL stays open through that connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas

Db = Any  # a path, None (the default database) or a duckdb connection

TABLES = ("sessions", "messages", "llm_calls", "tool_calls", "prompts", "errors", "todos",
          "compactions")


@contextlib.contextmanager
def _connection(db: Db) -> Iterator[Any]:
    if db is not None and hasattr(db, "execute") and not isinstance(db, (str, os.PathLike)):
        yield db
        return
    from claw_nb.store import connect

    con = connect(db, read_only=False)
    try:
        yield con
    finally:
        con.close()


def _where(session_id: str | None, alias: str = "") -> tuple[str, list[Any]]:
    if session_id is None:
        return "", []
    column = f"{alias}.session_id" if alias else "session_id"
    return f"WHERE {column} = ?", [session_id]


def query(sql: str, db: Db = None, params: list[Any] | None = None) -> pandas.DataFrame:
    """Any SQL over the log, as a DataFrame."""
    with _connection(db) as con:
        return con.execute(sql, params or []).df()


def sessions(db: Db = None) -> pandas.DataFrame:
    """Per-session summary: steps, calls, tokens, tool errors, model vs tool time, outcome."""
    from claw_nb.store import SUMMARY_SQL

    with _connection(db) as con:
        return con.execute(SUMMARY_SQL).df()


def tokens_per_step(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """How the context grows: prompt tokens per step, with the running total sent."""
    where, params = _where(session_id)
    sql = f"""
        SELECT session_id, step, prompt_tokens, completion_tokens, cached_tokens, message_count,
               latency_ms, ttft_ms, tokens_per_s, finish_reason, usage_source,
               sum(prompt_tokens) OVER (PARTITION BY session_id ORDER BY step
                                        ROWS UNBOUNDED PRECEDING) AS prompt_tokens_sent
        FROM llm_calls {where} ORDER BY session_id, step"""
    return query(sql, db, params)


def token_split(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """Each request's tokens by part: system prompt, tool schemas, history, tool results."""
    where, params = _where(session_id)
    sql = f"""
        SELECT session_id, step,
               CAST(json_extract(parts, '$.system') AS BIGINT) AS system,
               CAST(json_extract(parts, '$.tools') AS BIGINT) AS tools,
               CAST(json_extract(parts, '$.history') AS BIGINT) AS history,
               CAST(json_extract(parts, '$.tool_results') AS BIGINT) AS tool_results,
               prompt_tokens
        FROM llm_calls {where} ORDER BY session_id, step"""
    return query(sql, db, params)


def tool_errors(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """Calls, failures and failure rate per tool and error kind."""
    where, params = _where(session_id)
    sql = f"""
        SELECT tool, coalesce(error_kind, 'ok') AS outcome, count(*) AS calls,
               round(count(*) / sum(count(*)) OVER (PARTITION BY tool), 4) AS share_of_tool,
               round(avg(duration_ms), 2) AS mean_ms,
               round(avg(result_chars), 0) AS mean_result_chars,
               round(avg(result_chars_sent), 0) AS mean_chars_sent
        FROM tool_calls {where} GROUP BY tool, outcome ORDER BY tool, calls DESC"""
    return query(sql, db, params)


def time_split(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """Per session: seconds waiting for the model, running tools, and everything else."""
    frame = sessions(db)
    if session_id is not None:
        frame = frame[frame["session_id"] == session_id]
    out = frame[["session_id", "model", "wall_s"]].copy()
    out["model_s"] = frame["model_ms"] / 1000
    out["tools_s"] = frame["tool_ms"] / 1000
    out["other_s"] = (out["wall_s"] - out["model_s"] - out["tools_s"]).clip(lower=0)
    return out.reset_index(drop=True)


def compare(db: Db = None, by: str = "model") -> pandas.DataFrame:
    """Models or system-prompt variants side by side (`by` = "model" or "prompt")."""
    keys = {"model": "s.model", "prompt": "s.system_prompt_name, s.system_prompt_sha"}
    if by not in keys:
        raise ValueError(f"compare by 'model' or 'prompt', not {by!r}")
    group = keys[by]
    sql = f"""
        WITH l AS (SELECT session_id, sum(prompt_tokens) AS prompt_tokens,
                          sum(completion_tokens) AS completion_tokens, avg(latency_ms) AS latency,
                          avg(tokens_per_s) AS tps, sum(coalesce(cost_usd, 0)) AS cost
                   FROM llm_calls GROUP BY session_id),
             t AS (SELECT session_id, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS errors
                   FROM tool_calls GROUP BY session_id)
        SELECT {group}, count(*) AS sessions,
               round(avg(CASE WHEN s.stop_reason = 'completed' THEN 1 ELSE 0 END), 4)
                   AS completion_rate,
               round(avg(s.steps), 2) AS mean_steps,
               round(avg(l.prompt_tokens), 0) AS prompt_tokens_per_session,
               round(avg(l.completion_tokens), 0) AS completion_tokens_per_session,
               round(sum(t.errors) / nullif(sum(t.calls), 0), 4) AS tool_error_rate,
               round(avg(l.latency), 1) AS mean_latency_ms,
               round(avg(l.tps), 1) AS mean_tokens_per_s,
               round(sum(l.cost), 4) AS cost_usd
        FROM sessions s LEFT JOIN l USING (session_id) LEFT JOIN t USING (session_id)
        GROUP BY {group} ORDER BY sessions DESC"""
    return query(sql, db)


def compactions(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """Every compaction: why, how, and the tokens before and after."""
    where, params = _where(session_id)
    sql = f"""
        SELECT session_id, step, reason, method, tokens_before, tokens_after,
               tokens_before - tokens_after AS tokens_saved, messages_before, messages_after,
               summary_tokens, window_tokens, duration_ms
        FROM compactions {where} ORDER BY created_at"""
    return query(sql, db, params)


def session_log(db: Db = None, session_id: str | None = None) -> pandas.DataFrame:
    """One session's model and tool calls interleaved by step (latest session by default)."""
    with _connection(db) as con:
        if session_id is None:
            row = con.execute(
                "SELECT session_id FROM sessions ORDER BY started_at DESC LIMIT 1").fetchone()
            if row is None:
                return con.execute("SELECT NULL AS step WHERE false").df()
            session_id = row[0]
        return con.execute(
            """
            SELECT step, 'model' AS kind, model AS name, NULL AS ok,
                   prompt_tokens, completion_tokens, latency_ms AS ms, finish_reason AS detail
            FROM llm_calls WHERE session_id = $1
            UNION ALL
            SELECT step, 'tool', tool, ok, NULL, NULL, duration_ms,
                   coalesce(error_kind, '') || CASE WHEN decision IS NULL THEN ''
                                                   ELSE ' ' || decision END
            FROM tool_calls WHERE session_id = $1
            ORDER BY step, kind""",
            [session_id],
        ).df()


def export_parquet(directory: str | os.PathLike[str], db: Db = None) -> list[Path]:
    """Every table as a Parquet file in `directory`, for sharing results."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with _connection(db) as con:
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        for table in TABLES:
            if table not in present:
                continue
            path = out / f"{table}.parquet"
            con.execute(f"COPY {table} TO '{_sql_path(path)}' (FORMAT parquet)")
            written.append(path)
    return written


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
