"""Moving journal lines into DuckDB: one row builder per event type, one transaction per ingest.

:func:`ingest` reads every journal's new complete lines, builds rows for every table (in the
column order of `claw_nb.log.schema`), writes them in one transaction, remembers how far it read
in ``journal_offsets``, deletes journals whose writer has finished, and marks sessions whose
writer died without a ``SessionEnded`` as ``stop_reason = 'abnormal'``.

A system message's text is stored once, in ``prompts`` (its ``messages`` row has ``content``
NULL and ``prompt_sha`` set); the tool schemas a session was sent are stored once, in
``tool_schemas``, by their sha.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.log.database import DEFAULT_TIMEOUT, open_database, resolve_db_path
from claw_nb.log.journal import (
    TIME_KEY,
    TYPE_KEY,
    JournalChunk,
    decode_line,
    journal_dir,
    list_journals,
    read_journal,
    remove_stale_temporaries,
)
from claw_nb.log.schema import TABLES

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

SESSION_COLUMNS = TABLES["sessions"].names
MESSAGE_COLUMNS = TABLES["messages"].names
LLM_CALL_COLUMNS = TABLES["llm_calls"].names
TOOL_CALL_COLUMNS = TABLES["tool_calls"].names
COMPACTION_COLUMNS = TABLES["compactions"].names
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")

# Compaction columns whose event field has another name.
_EVENT_FIELD = {"window_tokens": "window", "limit_tokens": "limit"}
_NUMERIC = {"INTEGER", "BIGINT", "DOUBLE"}


def ingest(
    db_path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> int:
    """Move new journal lines into the database; the number of events ingested.

    Raises :class:`~claw_nb.log.database.StoreBusy` if the database stays held by another
    process for ``timeout`` seconds.
    """
    path = resolve_db_path(db_path)
    con, _ = open_database(path, read_only=False, timeout=timeout)
    try:
        return ingest_journals(con, path)
    finally:
        con.close()


# -- values ---------------------------------------------------------------------------------------


def ts(value: Any) -> datetime | None:
    """A UTC timestamp (naive, as DuckDB's TIMESTAMP) from epoch seconds; None if not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def to_json(value: Any) -> str | None:
    """Valid JSON text (DuckDB's JSON type rejects NaN) or None."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_no_nan(value), ensure_ascii=False, default=str)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return to_json(value)


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (int, float)) else None


def text_sha(text: str) -> str:
    """The 16-hex-digit sha256 prefix the log names prompts and tool schemas by."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _tokens_per_s(record: dict[str, Any]) -> float | None:
    """Generation speed: completion tokens over the time after the first token (whole call
    when the time to first token is unknown)."""
    tokens = _num(record.get("completion_tokens"))
    latency, ttft = _num(record.get("latency_ms")), _num(record.get("ttft_ms"))
    if not tokens or latency is None:
        return None
    seconds = (latency - (ttft or 0.0)) / 1000.0
    return tokens / seconds if seconds > 0 else None


# -- row builders ---------------------------------------------------------------------------------


class Batch:
    """Rows for every table, built from journal records in order (one builder per event type)."""

    def __init__(self, existing_sessions: dict[str, dict[str, Any]]):
        self.sessions = existing_sessions
        self.touched: set[str] = set()
        self.prompts: dict[str, tuple] = {}
        self.tool_schemas: dict[str, tuple] = {}
        self.messages: dict[tuple[str, int], tuple] = {}
        self.llm_calls: list[tuple] = []
        self.tool_calls: list[tuple] = []
        self.errors: list[tuple] = []
        self.todos: list[tuple] = []
        self.compactions: list[tuple] = []
        self.journal_sessions: dict[tuple[str, str], float] = {}
        self.count = 0

    def _session(self, sid: str, at: datetime | None) -> dict[str, Any]:
        row = self.sessions.get(sid)
        if row is None:
            row = self.sessions[sid] = dict.fromkeys(SESSION_COLUMNS)
            row["session_id"] = sid
            row["started_at"] = at
        self.touched.add(sid)
        return row

    def add(self, file: str, r: dict[str, Any]) -> None:
        sid = r.get("session_id")
        if not isinstance(sid, str):
            return
        t = r.get(TIME_KEY)
        at = ts(t)
        if isinstance(t, (int, float)):
            key = (file, sid)
            self.journal_sessions[key] = max(self.journal_sessions.get(key, t), t)
        session = self._session(sid, at)
        self.count += 1
        builder = _BUILDERS.get(r[TYPE_KEY])
        # ToolCallStarted has no table of its own (its ToolCallFinished carries everything);
        # unknown types come from newer versions: counted, not stored.
        if builder is not None:
            builder(self, session, r, at)

    def session_started(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        started = ts(r.get("started_at")) or at
        if session["started_at"] is None or (started and started < session["started_at"]):
            session["started_at"] = started
        if session["task"] is None:
            session["task"] = _text(r.get("task"))
        for column in ("model", "workspace", "system_prompt_sha", "system_prompt_name"):
            session[column] = _text(r.get(column))
        if r.get("resumed_from"):
            session["resumed_from"] = _text(r.get("resumed_from"))
        session["pid"] = _num(r.get("_pid"))
        session["host"] = _text(r.get("_host"))
        session["ended_at"] = session["stop_reason"] = None  # running (again)
        prompt = r.get("system_prompt")
        sha = _text(r.get("system_prompt_sha"))
        if isinstance(prompt, str) and sha and sha not in self.prompts:
            self.prompts[sha] = (sha, _text(r.get("system_prompt_name")), prompt, started)
        tools = r.get("tool_schemas")
        tools_sha = _text(r.get("tool_schemas_sha"))
        if tools_sha:
            session["tool_schemas_sha"] = tools_sha
            if isinstance(tools, list) and tools_sha not in self.tool_schemas:
                self.tool_schemas[tools_sha] = (tools_sha, to_json(tools), started)

    def message_added(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        seq = _num(r.get("seq"))
        message = r.get("message")
        if seq is None or not isinstance(message, dict):
            return
        role = _text(message.get("role"))
        content = message.get("content")
        prompt_sha = None
        if role == "system" and isinstance(content, str):
            known = self.prompts.get(session["system_prompt_sha"])
            prompt_sha = (
                known[0] if known is not None and known[2] == content else text_sha(content)
            )
            if prompt_sha not in self.prompts:
                name = (
                    session["system_prompt_name"]
                    if prompt_sha == session["system_prompt_sha"]
                    else "system message"
                )
                self.prompts[prompt_sha] = (prompt_sha, name, content, at)
            content = None
        is_json = content is not None and not isinstance(content, str)
        extra = {k: v for k, v in message.items() if k not in MESSAGE_KEYS}
        sid = session["session_id"]
        self.messages[(sid, int(seq))] = (  # the order of TABLES["messages"]
            sid,
            int(seq),
            role,
            _text(content),
            to_json(message.get("tool_calls")) if "tool_calls" in message else None,
            _text(message.get("tool_call_id")),
            _text(message.get("name")),
            at,
            prompt_sha,
            is_json,
            to_json(extra) if extra else None,
        )

    def model_call_finished(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        step = _num(r.get("step"))
        if step is not None:
            session["steps"] = max(session["steps"] or 0, int(step))
        self.llm_calls.append(
            (
                session["session_id"],
                step,
                _text(r.get("model")),
                _num(r.get("prompt_tokens")),
                _num(r.get("completion_tokens")),
                _num(r.get("cached_tokens")),
                _num(r.get("latency_ms")),
                _num(r.get("ttft_ms")),
                _tokens_per_s(r),
                _text(r.get("finish_reason")),
                _text(r.get("usage_source")),
                _num(r.get("attempts")),
                bool(r.get("streamed")),
                _num(r.get("message_count")),
                _num(r.get("cost_usd")),
                to_json(r.get("params")),
                to_json(r.get("parts")),
                _text(r.get("error")),
                at,
                session["system_prompt_sha"],
                session["system_prompt_name"],
            )
        )

    def tool_call_finished(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.tool_calls.append(
            (
                session["session_id"],
                _num(r.get("step")),
                _text(r.get("call_id")),
                _text(r.get("tool")),
                to_json(r.get("arguments")),
                _text(r.get("raw_arguments")),
                bool(r.get("ok")),
                _text(r.get("error_kind")),
                _text(r.get("error")),
                _text(r.get("result")),
                _num(r.get("duration_ms")),
                _text(r.get("decision")),
                _num(r.get("result_chars")),
                _num(r.get("result_chars_sent")),
                at,
                _text(r.get("dialect")),
            )
        )

    def error_occurred(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.errors.append(
            (session["session_id"], _text(r.get("kind")), _text(r.get("message")), at)
        )

    def todos_updated(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.todos.append((session["session_id"], to_json(r.get("todos")), at))

    def final_answer(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        session["final_answer"] = _text(r.get("text"))

    def context_compacted(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        table = TABLES["compactions"]
        values = []
        for column in table.columns[1:-1]:
            value = r.get(_EVENT_FIELD.get(column.name, column.name))
            values.append(_num(value) if column.type in _NUMERIC else _text(value))
        self.compactions.append((session["session_id"], *values, ts(r.get("at")) or at))

    def session_ended(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        session["ended_at"] = ts(r.get("ended_at")) or at
        session["stop_reason"] = _text(r.get("stop_reason")) or "unknown"
        steps = _num(r.get("steps"))
        if steps is not None:
            session["steps"] = int(steps)


_BUILDERS: dict[str, Callable[[Batch, dict, dict, Any], None]] = {
    "SessionStarted": Batch.session_started,
    "MessageAdded": Batch.message_added,
    "ModelCallFinished": Batch.model_call_finished,
    "ToolCallFinished": Batch.tool_call_finished,
    "ErrorOccurred": Batch.error_occurred,
    "TodosUpdated": Batch.todos_updated,
    "FinalAnswer": Batch.final_answer,
    "ContextCompacted": Batch.context_compacted,
    "SessionEnded": Batch.session_ended,
}


# -- writing --------------------------------------------------------------------------------------

# Batches at least this big go in through a pandas DataFrame (DuckDB scans it several times
# faster than it converts Python lists); smaller ones as typed lists, so that the agent's
# process need not import pandas (~200 ms) to ingest one session. Once pandas is loaded
# anyway, any batch goes through it.
PANDAS_MIN_ROWS = 2000
PANDAS_LOADED_MIN_ROWS = 1


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple],
    verb: str = "INSERT",
    *,
    columns: tuple[str, ...] | None = None,
    via: str | None = None,
) -> None:
    """Insert rows (tuples in ``columns`` order, default every column of ``table``) in one
    statement, from a DataFrame (``via="pandas"``) or one typed list per column (``"lists"``);
    None picks by batch size and whether pandas is loaded already."""
    if not rows:
        return
    spec = TABLES[table]
    columns = columns or spec.names
    names = ", ".join(f'"{c}"' for c in columns)
    if via is None:
        loaded = "pandas" in sys.modules
        threshold = PANDAS_LOADED_MIN_ROWS if loaded else PANDAS_MIN_ROWS
        via = "pandas" if len(rows) >= threshold else "lists"
    if via == "pandas":
        import pandas as pd

        view = f"_claw_rows_{table}"
        con.register(view, pd.DataFrame.from_records(rows, columns=list(columns)))
        try:
            con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM {view}")
        finally:
            con.unregister(view)
        return
    lists = ", ".join(f"unnest(${i}::{spec.list_type(c)}[])" for i, c in enumerate(columns, 1))
    con.execute(f"{verb} INTO {table} ({names}) SELECT {lists}", [list(c) for c in zip(*rows)])


def write_batch(con: duckdb.DuckDBPyConnection, batch: Batch, via: str | None = None) -> None:
    """Write every row of ``batch`` (inside the caller's transaction)."""
    insert_rows(con, "prompts", list(batch.prompts.values()), "INSERT OR IGNORE", via=via)
    insert_rows(con, "tool_schemas", list(batch.tool_schemas.values()), "INSERT OR IGNORE", via=via)
    rows = [tuple(batch.sessions[sid][c] for c in SESSION_COLUMNS) for sid in sorted(batch.touched)]
    insert_rows(con, "sessions", rows, "INSERT OR REPLACE", via=via)
    if batch.messages:
        # Replace messages logged again under the same seq (a resumed session's history).
        # DELETE + INSERT: INSERT OR REPLACE is about twice as slow on big batches.
        keys = list(batch.messages)
        con.execute(
            "DELETE FROM messages USING (SELECT unnest(?::VARCHAR[]) AS sid, "
            "unnest(?::INTEGER[]) AS n) AS k WHERE messages.session_id = k.sid "
            "AND messages.seq = k.n",
            [[k[0] for k in keys], [k[1] for k in keys]],
        )
        insert_rows(con, "messages", list(batch.messages.values()), via=via)
    insert_rows(con, "llm_calls", batch.llm_calls, via=via)
    insert_rows(con, "tool_calls", batch.tool_calls, via=via)
    insert_rows(con, "errors", batch.errors, via=via)
    insert_rows(con, "todos", batch.todos, via=via)
    insert_rows(con, "compactions", batch.compactions, via=via)
    if batch.journal_sessions:
        keys = list(batch.journal_sessions)
        old = {
            (f, s): t
            for f, s, t in con.execute(
                "SELECT file, session_id, last_at FROM journal_sessions "
                "WHERE file IN (SELECT unnest(?::VARCHAR[]))",
                [sorted({f for f, _ in keys})],
            ).fetchall()
        }
        rows = [(f, s, max(t, old.get((f, s), t))) for (f, s), t in batch.journal_sessions.items()]
        insert_rows(con, "journal_sessions", rows, "INSERT OR REPLACE", via=via)


def _existing_sessions(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    names = ", ".join(SESSION_COLUMNS)
    rows = con.execute(
        f"SELECT {names} FROM sessions WHERE session_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
    ).fetchall()
    return {row[0]: dict(zip(SESSION_COLUMNS, row)) for row in rows}


def _records(chunk: JournalChunk, bad: list[int]) -> list[tuple[float, str, dict[str, Any]]]:
    """(time, journal name, record) for each readable line, in file order."""
    try:  # one parse for the whole chunk; line by line only when some line is damaged
        parsed = json.loads(b"[" + b",".join(chunk.lines) + b"]")
        records = [r for r in parsed if isinstance(r, dict) and isinstance(r.get(TYPE_KEY), str)]
    except ValueError:
        records = [r for r in map(decode_line, chunk.lines) if r is not None]
    bad[0] += len(chunk.lines) - len(records)
    out = []
    last = 0.0
    name = chunk.name
    for record in records:
        t = record.get(TIME_KEY)
        last = t if isinstance(t, (int, float)) and not isinstance(t, bool) else last
        out.append((last, name, record))
    return out


# Connections of one process share one database instance, so the file lock does not keep two
# threads of a process from ingesting the same lines at once; this does.
_INGEST_LOCK = threading.Lock()


def ingest_journals(
    con: duckdb.DuckDBPyConnection, db_path: Path, *, via: str | None = None
) -> int:
    """Ingest every journal of ``db_path`` through ``con`` (read-write, schema current)."""
    with _INGEST_LOCK:
        return _ingest_locked(con, db_path, via)


def _ingest_locked(con: duckdb.DuckDBPyConnection, db_path: Path, via: str | None) -> int:
    directory = journal_dir(db_path)
    remove_stale_temporaries(directory)
    files = list_journals(directory)
    offsets = dict(con.execute('SELECT file, "offset" FROM journal_offsets').fetchall())
    if not files and not offsets:
        return 0
    chunks: list[JournalChunk] = []
    try:
        for path in files:
            chunk = read_journal(path, offsets.get(path.name, 0))
            if chunk is not None:
                chunks.append(chunk)
        bad = [0]
        streams = [_records(c, bad) for c in chunks]
        # Interleave journals by time, keeping each journal's own order: a session's second
        # run may sit in a newer journal than its first.
        merged = list(heapq.merge(*streams, key=lambda item: item[0]))
        ids = sorted(
            {r["session_id"] for _, _, r in merged if isinstance(r.get("session_id"), str)}
        )
        present = {c.name for c in chunks}
        con.begin()
        try:
            batch = Batch(_existing_sessions(con, ids))
            for _, name, record in merged:
                batch.add(name, record)
            write_batch(con, batch, via)
            if offsets.keys() - present:  # journals deleted after an earlier ingest
                con.execute(
                    "DELETE FROM journal_offsets WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))",
                    [sorted(present)],
                )
                con.execute(
                    "DELETE FROM journal_sessions WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))",
                    [sorted(present)],
                )
            moved = [(c.name, c.end) for c in chunks if offsets.get(c.name) != c.end]
            insert_rows(con, "journal_offsets", moved, "INSERT OR REPLACE", via=via)
            _mark_abnormal(con, chunks)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        if bad[0]:
            logger.warning(
                "claw_nb: skipped %d unreadable journal line(s) in %s", bad[0], directory
            )
        for chunk in chunks:
            if not chunk.live:  # writer gone and everything read: the journal is done
                chunk.release(delete=True)
        return batch.count
    finally:
        for chunk in chunks:
            chunk.release()


def _mark_abnormal(con: duckdb.DuckDBPyConnection, chunks: list[JournalChunk]) -> None:
    """Sessions whose every journal's writer is gone and that never ended: 'abnormal'."""
    dead = {c.name for c in chunks if not c.live}
    if not dead:
        return
    live_sessions: set[str] = set()
    last_at: dict[str, float] = {}
    rows = con.execute("SELECT file, session_id, last_at FROM journal_sessions").fetchall()
    for file, sid, t in rows:
        if file in dead:
            last_at[sid] = max(t, last_at.get(sid, t))
        else:
            live_sessions.add(sid)
    for sid in sorted(last_at.keys() - live_sessions):
        con.execute(
            "UPDATE sessions SET stop_reason = 'abnormal', ended_at = ? "
            "WHERE session_id = ? AND stop_reason IS NULL",
            [ts(last_at[sid]), sid],
        )


def store_journal(db_path: str | os.PathLike[str], data: bytes) -> Path | None:
    """Write journal lines produced elsewhere (a remote trial) as a finished journal of
    ``db_path``, for the next ingest; its path, or None when ``data`` is empty."""
    from claw_nb.log.journal import JournalWriter

    if not data:
        return None
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]  # a cut last line is dropped, as for a dead writer
    with JournalWriter(journal_dir(resolve_db_path(db_path)), "remote") as writer:
        writer.append(data)
        return writer.path
