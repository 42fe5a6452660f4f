"""Reading the DuckDB log: a connection, the session list, per-session summaries, messages.

Every reader ingests pending journals first (best effort), so it sees every session, finished
or running. Timestamps are UTC; a session still running has ``stop_reason`` NULL. A system
message's text lives in ``prompts``: :func:`load_messages` puts it back.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from claw_nb.log.database import (
    DEFAULT_TIMEOUT,
    StoreBusy,
    for_user,
    open_database,
    resolve_db_path,
)
from claw_nb.log.ingest import ingest, ingest_journals
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.journal_reader import list_journals
from claw_nb.log.rows import SESSION_COLUMNS

if TYPE_CHECKING:
    import duckdb
    import pandas


def connect(
    db_path: str | os.PathLike[str] | None = None,
    read_only: bool = False,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to the log, after ingesting pending journals (best effort).

    Waits up to ``timeout`` seconds for another process to release the file, then raises
    :class:`StoreBusy`. Close the connection when done: while it is open no other process can
    open the file (agents keep logging to their journals meanwhile).
    """
    path = resolve_db_path(db_path)
    if read_only:
        try:
            ingest(path, timeout=min(timeout, 1.0))
        except StoreBusy:
            pass
        except Exception as exc:  # noqa: BLE001 - best effort: the connection still works
            warnings.warn(f"claw_nb: could not ingest journals into {path}: {exc}", stacklevel=2)
        return for_user(open_database(path, read_only=True, timeout=timeout)[0])
    con, _ = open_database(path, read_only=False, timeout=timeout)
    try:
        ingest_journals(con, path)
    except Exception as exc:  # noqa: BLE001 - best effort: the connection still works
        warnings.warn(f"claw_nb: could not ingest journals into {path}: {exc}", stacklevel=2)
    return for_user(con)


@contextmanager
def reading(db_path: str | os.PathLike[str] | None, timeout: float) -> Iterator[Any]:
    """A connection for a read helper, after a best-effort ingest; None if there is no log."""
    path = resolve_db_path(db_path)
    if not path.exists() and not list_journals(journal_dir(path)):
        yield None
        return
    con, read_only = open_database(path, read_only=False, timeout=timeout, fallback_read_only=True)
    try:
        if not read_only:
            try:
                ingest_journals(con, path)
            except Exception as exc:  # noqa: BLE001 - best effort: the data read still works
                warnings.warn(
                    f"claw_nb: could not ingest journals into {path}: {exc}", stacklevel=3
                )
        yield con
    finally:
        con.close()


def list_sessions(
    db_path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> pandas.DataFrame:
    """Every session, newest first (running ones have ``stop_reason`` NULL)."""
    import pandas as pd

    with reading(db_path, timeout) as con:
        if con is None:
            return pd.DataFrame(columns=list(SESSION_COLUMNS))
        return con.execute(
            "SELECT * FROM sessions ORDER BY started_at DESC NULLS LAST, session_id"
        ).df()


SUMMARY_SQL = """
WITH l AS (
    SELECT session_id, count(*) AS llm_calls, sum(prompt_tokens) AS prompt_tokens,
           sum(completion_tokens) AS completion_tokens, sum(latency_ms) AS model_ms
    FROM llm_calls GROUP BY session_id),
t AS (
    SELECT session_id, count(*) AS tool_calls, count(*) FILTER (WHERE NOT ok) AS tool_errors,
           sum(duration_ms) AS tool_ms
    FROM tool_calls GROUP BY session_id)
SELECT s.session_id, s.started_at, s.model, s.task, s.steps,
       coalesce(l.llm_calls, 0)::BIGINT AS llm_calls,
       coalesce(l.prompt_tokens, 0)::BIGINT AS prompt_tokens,
       coalesce(l.completion_tokens, 0)::BIGINT AS completion_tokens,
       coalesce(t.tool_calls, 0)::BIGINT AS tool_calls,
       coalesce(t.tool_errors, 0)::BIGINT AS tool_errors,
       coalesce(l.model_ms, 0) AS model_ms,
       coalesce(t.tool_ms, 0) AS tool_ms,
       epoch(s.ended_at - s.started_at) AS wall_s,
       s.stop_reason
FROM sessions s LEFT JOIN l USING (session_id) LEFT JOIN t USING (session_id)
ORDER BY s.started_at NULLS LAST, s.session_id
"""


def session_summary(
    db_path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> pandas.DataFrame:
    """One row per session: model, steps, LLM calls, prompt/completion tokens, tool calls,
    tool errors, time in the model and in tools (ms), wall time (s) and stop reason."""
    import pandas as pd

    with reading(db_path, timeout) as con:
        if con is None:
            return pd.DataFrame(
                columns=[
                    "session_id",
                    "started_at",
                    "model",
                    "task",
                    "steps",
                    "llm_calls",
                    "prompt_tokens",
                    "completion_tokens",
                    "tool_calls",
                    "tool_errors",
                    "model_ms",
                    "tool_ms",
                    "wall_s",
                    "stop_reason",
                ]
            )
        return con.execute(SUMMARY_SQL).df()


def load_messages(
    db_path: str | os.PathLike[str] | None, session_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> list[dict[str, Any]]:
    """The session's conversation as OpenAI-format messages in order, ready to resume.

    A session started with ``resumed_from`` and a history gets that history back from the
    earlier session (messages before its own first ``seq``). Empty for an unknown session.
    """
    with reading(db_path, timeout) as con:
        if con is None:
            return []
        out: list[dict[str, Any]] = []
        sid: str | None = session_id
        before: int | None = None
        seen: set[str] = set()
        while sid is not None and sid not in seen:
            seen.add(sid)
            rows = con.execute(
                """SELECT m.seq, m.role, m.content, m.content_is_json, m.tool_calls,
                          m.tool_call_id, m.name, m.extra, p.text
                   FROM messages m LEFT JOIN prompts p ON p.sha = m.prompt_sha
                   WHERE m.session_id = ? AND (?::INTEGER IS NULL OR m.seq < ?::INTEGER)
                   ORDER BY m.seq""",
                [sid, before, before],
            ).fetchall()
            out[:0] = [_message_from_row(row) for row in rows]
            first = rows[0][0] if rows else before
            if first is None or first <= 0:
                break
            parent = con.execute(
                "SELECT resumed_from FROM sessions WHERE session_id = ?", [sid]
            ).fetchone()
            sid, before = (parent[0] if parent else None), first
        return out


def load_tool_outcomes(
    db_path: str | os.PathLike[str] | None, session_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, tuple[str, bool, str | None]]:
    """call_id -> (tool, ok, error_kind) for the tool calls of a session and the sessions it
    resumed, so a resumed agent knows which earlier calls worked without reading their text."""
    out: dict[str, tuple[str, bool, str | None]] = {}
    with reading(db_path, timeout) as con:
        if con is None:
            return out
        sid: str | None = session_id
        seen: set[str] = set()
        while sid is not None and sid not in seen:
            seen.add(sid)
            rows = con.execute(
                "SELECT call_id, tool, ok, error_kind FROM tool_calls WHERE session_id = ?", [sid]
            ).fetchall()
            for call_id, tool, ok, error_kind in rows:
                out.setdefault(str(call_id), (str(tool), bool(ok), error_kind))
            parent = con.execute(
                "SELECT resumed_from FROM sessions WHERE session_id = ?", [sid]
            ).fetchone()
            sid = parent[0] if parent else None
    return out


def logged_steps(
    db_path: str | os.PathLike[str] | None, session_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> int:
    """The number of a session's last model call (its step count), so a conversation that goes
    on under the same id numbers its next call after the logged ones; 0 for an unknown one."""
    with reading(db_path, timeout) as con:
        if con is None:
            return 0
        row = con.execute(
            """SELECT greatest(
                   coalesce((SELECT max(steps) FROM sessions WHERE session_id = ?), 0),
                   coalesce((SELECT max(step) FROM llm_calls WHERE session_id = ?), 0))""",
            [session_id, session_id],
        ).fetchone()
    return int(row[0] or 0) if row else 0


def load_child_sessions(
    db_path: str | os.PathLike[str] | None, session_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, list[tuple[str, str | None]]]:
    """A session's subagents: `task` call id -> [(child session id, agent name)], in the
    order they started."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    with reading(db_path, timeout) as con:
        if con is None:
            return out
        rows = con.execute(
            """SELECT parent_call_id, session_id, agent_name FROM sessions
               WHERE parent_session_id = ? ORDER BY started_at, session_id""",
            [session_id],
        ).fetchall()
    for call_id, child_id, agent_name in rows:
        out.setdefault(str(call_id), []).append((str(child_id), agent_name))
    return out


def _message_from_row(row: tuple) -> dict[str, Any]:
    _, role, content, is_json, tool_calls, tool_call_id, name, extra, prompt_text = row
    if content is None and prompt_text is not None:
        content = prompt_text
    elif is_json and content is not None:
        content = json.loads(content)
    message: dict[str, Any] = {"role": role, "content": content}
    if tool_calls is not None:
        message["tool_calls"] = json.loads(tool_calls)
    if tool_call_id is not None:
        message["tool_call_id"] = tool_call_id
    if name is not None:
        message["name"] = name
    if extra is not None:
        message.update(json.loads(extra))
    return message
