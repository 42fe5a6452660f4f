"""The DuckDB log: schema and migrations, the event-log listener, ingest, and read helpers.

DuckDB lets one process at a time open a database file (even read-only opens fail while
another process writes), and several kernels and CLI runs log into one workspace at once. So
the agent never holds the database during a session:

- :class:`EventLog` is the agent's listener. It appends each event as one JSON line to a
  journal file of its own (`claw_nb.log.journal`), about ten microseconds an event, and at the
  end of a session tries once, briefly, to move the journals into the database.
- :func:`ingest` moves every journal's new complete lines into the database in one
  transaction, remembers how far it read in ``journal_offsets``, deletes journals whose writer
  has finished, and marks sessions whose writer died without a ``SessionEnded`` as
  ``stop_reason = 'abnormal'``.
- :func:`connect`, :func:`list_sessions`, :func:`session_summary` and :func:`load_messages`
  ingest first, so they always see every session, finished or running.

Timestamps are UTC. A session still running has ``stop_reason`` NULL. A system message's text
is stored once, in ``prompts``: its ``messages`` row has ``content`` NULL and ``prompt_sha`` set
(:func:`load_messages` puts the text back).

Importing this module loads neither DuckDB nor pandas; they load on first use.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import os
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb import events as ev
from claw_nb.errors import ClawError
from claw_nb.log.journal import (
    TIME_KEY,
    TYPE_KEY,
    JournalChunk,
    JournalWriter,
    decode_line,
    encode_event,
    journal_dir,
    list_journals,
    read_journal,
    remove_stale_temporaries,
)

if TYPE_CHECKING:
    import duckdb
    import pandas
    from typing_extensions import Self

__all__ = [
    "SCHEMA_VERSION",
    "EventLog",
    "StoreBusy",
    "connect",
    "default_db_path",
    "ingest",
    "journal_dir",
    "list_sessions",
    "load_messages",
    "migrate",
    "session_summary",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds to wait for another process to release the database
END_OF_SESSION_TIMEOUT = 0.5  # how long an EventLog waits for the database at session end


def default_db_path(workspace: str | os.PathLike[str] | None = None) -> Path:
    """``$CLAW_DB`` if set, else ``<workspace or cwd>/.claw/claw.duckdb``."""
    env = os.environ.get("CLAW_DB")
    if env:
        return Path(env).expanduser()
    return Path(workspace if workspace is not None else Path.cwd()) / ".claw" / "claw.duckdb"


def _resolve(db_path: str | os.PathLike[str] | None) -> Path:
    return Path(db_path).expanduser() if db_path is not None else default_db_path()


# -- schema -------------------------------------------------------------------------------------
# Each migration only adds (tables, columns), so an older claw_nb still works on a newer file.


def _m1_base(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE IF NOT EXISTS prompts (
            sha VARCHAR PRIMARY KEY, name VARCHAR, text VARCHAR, created_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS sessions (
            session_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, ended_at TIMESTAMP,
            model VARCHAR, workspace VARCHAR, task VARCHAR, stop_reason VARCHAR,
            system_prompt_sha VARCHAR, system_prompt_name VARCHAR, resumed_from VARCHAR,
            steps INTEGER, pid INTEGER, host VARCHAR)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS messages (
            session_id VARCHAR, seq INTEGER, role VARCHAR, content VARCHAR, tool_calls JSON,
            tool_call_id VARCHAR, name VARCHAR, created_at TIMESTAMP,
            PRIMARY KEY (session_id, seq))""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS llm_calls (
            session_id VARCHAR, step INTEGER, model VARCHAR, prompt_tokens INTEGER,
            completion_tokens INTEGER, cached_tokens INTEGER, latency_ms DOUBLE, ttft_ms DOUBLE,
            tokens_per_s DOUBLE, finish_reason VARCHAR, usage_source VARCHAR, attempts INTEGER,
            streamed BOOLEAN, message_count INTEGER, cost_usd DOUBLE, params JSON, parts JSON,
            error VARCHAR, created_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS tool_calls (
            session_id VARCHAR, step INTEGER, call_id VARCHAR, tool VARCHAR, arguments JSON,
            raw_arguments VARCHAR, ok BOOLEAN, error_kind VARCHAR, error VARCHAR, result VARCHAR,
            duration_ms DOUBLE, decision VARCHAR, result_chars INTEGER,
            result_chars_sent INTEGER, created_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS errors (
            session_id VARCHAR, kind VARCHAR, message VARCHAR, created_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS journal_offsets (file VARCHAR PRIMARY KEY, "offset" BIGINT)""")


def _m2_answers_todos_liveness(con: duckdb.DuckDBPyConnection) -> None:
    """Final answers, todo lists, lossless message round trips, abnormal-end bookkeeping."""
    con.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS final_answer VARCHAR")
    con.execute("ALTER TABLE messages ADD COLUMN IF NOT EXISTS prompt_sha VARCHAR")
    con.execute("ALTER TABLE messages ADD COLUMN IF NOT EXISTS content_is_json BOOLEAN")
    con.execute("ALTER TABLE messages ADD COLUMN IF NOT EXISTS extra JSON")
    con.execute("""
        CREATE TABLE IF NOT EXISTS todos (session_id VARCHAR, todos JSON, created_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS journal_sessions (
            file VARCHAR, session_id VARCHAR, last_at DOUBLE, PRIMARY KEY (file, session_id))""")


def _m3_compactions(con: duckdb.DuckDBPyConnection) -> None:
    """Context compactions (claw_nb.context): when, why, and how many tokens they saved."""
    con.execute("""
        CREATE TABLE IF NOT EXISTS compactions (
            session_id VARCHAR, step INTEGER, reason VARCHAR, method VARCHAR,
            tokens_before INTEGER, tokens_after INTEGER, messages_before INTEGER,
            messages_after INTEGER, dropped VARCHAR, summary_tokens INTEGER, summary VARCHAR,
            focus VARCHAR, window_tokens INTEGER, limit_tokens INTEGER, summary_calls INTEGER,
            summary_prompt_tokens INTEGER, summary_completion_tokens INTEGER,
            duration_ms DOUBLE, created_at TIMESTAMP)""")


def _m4_call_prompt_variant(con: duckdb.DuckDBPyConnection) -> None:
    """Each model call's system-prompt variant (a session continued under another prompt
    keeps the right one per call); older rows take their session's."""
    con.execute("ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS system_prompt_sha VARCHAR")
    con.execute("ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS system_prompt_name VARCHAR")
    con.execute("""
        UPDATE llm_calls SET system_prompt_sha = s.system_prompt_sha,
                             system_prompt_name = s.system_prompt_name
        FROM sessions s
        WHERE llm_calls.session_id = s.session_id AND llm_calls.system_prompt_sha IS NULL""")


MIGRATIONS: list[Callable[[Any], None]] = [
    _m1_base, _m2_answers_todos_liveness, _m3_compactions, _m4_call_prompt_variant,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version of the schema in ``con`` (0 for an empty database)."""
    import duckdb

    try:
        return con.execute("SELECT max(version) FROM main.schema_version").fetchone()[0] or 0
    except duckdb.CatalogException:
        return 0
    except duckdb.InvalidInputException:  # Python replacement scans on: the table is missing
        return 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema in ``con`` up to :data:`SCHEMA_VERSION`, one transaction per step."""
    current = schema_version(con)
    for number in range(current + 1, SCHEMA_VERSION + 1):
        con.begin()
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            MIGRATIONS[number - 1](con)
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (?)", [number])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        current = number
    return current


# -- opening the database -----------------------------------------------------------------------


class StoreBusy(ClawError, RuntimeError):
    """Another connection held the database file for longer than the timeout."""

    def __init__(self, path: Path, timeout: float, cause: BaseException | None = None):
        text = str(cause or "")
        match = re.search(r"PID (\d+)", text)
        self.path = path
        self.timeout = timeout
        self.holder_pid = int(match.group(1)) if match else None
        if self.holder_pid is not None:
            holder = f"process {self.holder_pid}"
        elif "different configuration" in text:
            holder = "another connection in this process opened with a different read_only"
        else:
            holder = "another process"
        super().__init__(
            f"the claw_nb log {path} is held by {holder}; gave up after {timeout:g} s. "
            "DuckDB lets one process at a time open a database file, so close the other "
            "connection (con.close()) and try again. Agents keep logging meanwhile: their "
            "journals are ingested on the next open."
        )


_BUSY_MARKERS = ("could not set lock", "conflicting lock", "different configuration")


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY_MARKERS)


def _connect_once(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    try:
        # A missing table must be an error, never a Python variable of the same name.
        con.execute("SET python_enable_replacements = false")
        if not read_only:
            migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def _open(
    path: Path, *, read_only: bool, timeout: float, fallback_read_only: bool = False
) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """(connection, read_only), retrying with backoff while another connection holds the file.

    A read-write open migrates the schema. With ``fallback_read_only``, a read-write open that
    is refused tries read-only before waiting (other readers share a file; writers do not).
    """
    import duckdb

    deadline = time.monotonic() + max(timeout, 0.0)
    delay = 0.01
    while True:
        try:
            if read_only and not path.exists():
                _connect_once(path, False).close()  # create it: a read-only open needs a file
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            return _connect_once(path, read_only), read_only
        except duckdb.Error as exc:
            if not _is_busy(exc):
                raise
            last: BaseException = exc
            if read_only and "different configuration" in str(exc):
                # This process already has the file open read-write: share that instance.
                try:
                    return _connect_once(path, False), False
                except duckdb.Error as again:
                    if not _is_busy(again):
                        raise
        if fallback_read_only and not read_only and path.exists():
            try:
                return _connect_once(path, True), True
            except duckdb.Error as exc:
                if not _is_busy(exc):
                    raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StoreBusy(path, timeout, last) from last
        time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
        delay = min(delay * 2, 0.2)


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
    path = _resolve(db_path)
    if read_only:
        try:
            ingest(path, timeout=min(timeout, 1.0))
        except StoreBusy:
            pass
        except Exception as exc:  # noqa: BLE001 - best effort: the connection still works
            warnings.warn(f"claw_nb: could not ingest journals into {path}: {exc}", stacklevel=2)
        return _for_user(_open(path, read_only=True, timeout=timeout)[0])
    con, _ = _open(path, read_only=False, timeout=timeout)
    try:
        _ingest(con, path)
    except Exception as exc:  # noqa: BLE001 - best effort: the connection still works
        warnings.warn(f"claw_nb: could not ingest journals into {path}: {exc}", stacklevel=2)
    return _for_user(con)


def _for_user(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Give back DuckDB's defaults (querying DataFrames by variable name) to a user's connection."""
    con.execute("RESET python_enable_replacements")
    return con


# -- ingest -------------------------------------------------------------------------------------

COMPACTION_COLUMNS = (
    "session_id", "step", "reason", "method", "tokens_before", "tokens_after",
    "messages_before", "messages_after", "dropped", "summary_tokens", "summary", "focus",
    "window_tokens", "limit_tokens", "summary_calls", "summary_prompt_tokens",
    "summary_completion_tokens", "duration_ms", "created_at",
)
_COMPACTION_NUMBERS = {
    "step", "tokens_before", "tokens_after", "messages_before", "messages_after",
    "summary_tokens", "window_tokens", "limit_tokens", "summary_calls", "summary_prompt_tokens",
    "summary_completion_tokens", "duration_ms",
}
_EVENT_FIELD = {"window_tokens": "window", "limit_tokens": "limit"}
SESSION_COLUMNS = (
    "session_id", "started_at", "ended_at", "model", "workspace", "task", "stop_reason",
    "system_prompt_sha", "system_prompt_name", "resumed_from", "steps", "pid", "host",
    "final_answer",
)
MESSAGE_COLUMNS = (
    "session_id", "seq", "role", "content", "content_is_json", "tool_calls", "tool_call_id",
    "name", "prompt_sha", "extra", "created_at",
)
LLM_CALL_COLUMNS = (
    "session_id", "step", "model", "prompt_tokens", "completion_tokens", "cached_tokens",
    "latency_ms", "ttft_ms", "tokens_per_s", "finish_reason", "usage_source", "attempts",
    "streamed", "message_count", "cost_usd", "params", "parts", "error", "created_at",
    "system_prompt_sha", "system_prompt_name",
)
TOOL_CALL_COLUMNS = (
    "session_id", "step", "call_id", "tool", "arguments", "raw_arguments", "ok", "error_kind",
    "error", "result", "duration_ms", "decision", "result_chars", "result_chars_sent",
    "created_at",
)
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def ingest(
    db_path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> int:
    """Move new journal lines into the database; the number of events ingested.

    Raises :class:`StoreBusy` if the database stays held by another process for ``timeout``
    seconds.
    """
    path = _resolve(db_path)
    con, _ = _open(path, read_only=False, timeout=timeout)
    try:
        return _ingest(con, path)
    finally:
        con.close()


def _ts(value: Any) -> datetime | None:
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


def _json(value: Any) -> str | None:
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
    return _json(value)


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (int, float)) else None


def _sha(text: str) -> str:
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


class _Batch:
    """Rows for every table, built from journal records in order."""

    def __init__(self, existing_sessions: dict[str, dict[str, Any]]):
        self.sessions = existing_sessions
        self.touched: set[str] = set()
        self.prompts: dict[str, tuple] = {}
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
        kind = r[TYPE_KEY]
        t = r.get(TIME_KEY)
        at = _ts(t)
        if isinstance(t, (int, float)):
            key = (file, sid)
            self.journal_sessions[key] = max(self.journal_sessions.get(key, t), t)
        session = self._session(sid, at)
        self.count += 1
        if kind == "SessionStarted":
            started = _ts(r.get("started_at")) or at
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
        elif kind == "MessageAdded":
            self._message(session, r, at)
        elif kind == "ModelCallFinished":
            step = _num(r.get("step"))
            if step is not None:
                session["steps"] = max(session["steps"] or 0, int(step))
            self.llm_calls.append((
                sid, step, _text(r.get("model")), _num(r.get("prompt_tokens")),
                _num(r.get("completion_tokens")), _num(r.get("cached_tokens")),
                _num(r.get("latency_ms")), _num(r.get("ttft_ms")), _tokens_per_s(r),
                _text(r.get("finish_reason")), _text(r.get("usage_source")),
                _num(r.get("attempts")), bool(r.get("streamed")), _num(r.get("message_count")),
                _num(r.get("cost_usd")), _json(r.get("params")), _json(r.get("parts")),
                _text(r.get("error")), at, session["system_prompt_sha"],
                session["system_prompt_name"],
            ))
        elif kind == "ToolCallFinished":
            self.tool_calls.append((
                sid, _num(r.get("step")), _text(r.get("call_id")), _text(r.get("tool")),
                _json(r.get("arguments")), _text(r.get("raw_arguments")), bool(r.get("ok")),
                _text(r.get("error_kind")), _text(r.get("error")), _text(r.get("result")),
                _num(r.get("duration_ms")), _text(r.get("decision")),
                _num(r.get("result_chars")), _num(r.get("result_chars_sent")), at,
            ))
        elif kind == "ErrorOccurred":
            self.errors.append((sid, _text(r.get("kind")), _text(r.get("message")), at))
        elif kind == "TodosUpdated":
            self.todos.append((sid, _json(r.get("todos")), at))
        elif kind == "FinalAnswer":
            session["final_answer"] = _text(r.get("text"))
        elif kind == "ContextCompacted":
            self.compactions.append((
                sid, *(_num(r.get(_EVENT_FIELD.get(c, c))) if c in _COMPACTION_NUMBERS
                       else _text(r.get(c)) for c in COMPACTION_COLUMNS[1:-1]),
                _ts(r.get("at")) or at,
            ))
        elif kind == "SessionEnded":
            session["ended_at"] = _ts(r.get("ended_at")) or at
            session["stop_reason"] = _text(r.get("stop_reason")) or "unknown"
            steps = _num(r.get("steps"))
            if steps is not None:
                session["steps"] = int(steps)
        # ToolCallStarted has no table of its own (its ToolCallFinished carries everything);
        # unknown types come from newer versions: counted, not stored.

    def _message(self, session: dict[str, Any], r: dict[str, Any], at: datetime | None) -> None:
        seq = _num(r.get("seq"))
        message = r.get("message")
        if seq is None or not isinstance(message, dict):
            return
        role = _text(message.get("role"))
        content = message.get("content")
        prompt_sha = None
        if role == "system" and isinstance(content, str):
            known = self.prompts.get(session["system_prompt_sha"])
            prompt_sha = known[0] if known is not None and known[2] == content else _sha(content)
            if prompt_sha not in self.prompts:
                name = (session["system_prompt_name"]
                        if prompt_sha == session["system_prompt_sha"] else "system message")
                self.prompts[prompt_sha] = (prompt_sha, name, content, at)
            content = None
        is_json = content is not None and not isinstance(content, str)
        extra = {k: v for k, v in message.items() if k not in MESSAGE_KEYS}
        calls = message.get("tool_calls")
        sid = session["session_id"]
        self.messages[(sid, int(seq))] = (
            sid, int(seq), role, _text(content), is_json,
            _json(calls) if "tool_calls" in message else None,
            _text(message.get("tool_call_id")), _text(message.get("name")), prompt_sha,
            _json(extra) if extra else None, at,
        )


_COLUMN_TYPES = {
    **dict.fromkeys(("seq", "step", "steps", "pid", "prompt_tokens", "completion_tokens",
                     "cached_tokens", "attempts", "message_count", "result_chars",
                     "result_chars_sent", "tokens_before", "tokens_after", "messages_before",
                     "messages_after", "summary_tokens", "window_tokens", "limit_tokens",
                     "summary_calls",
                     "summary_prompt_tokens", "summary_completion_tokens"), "INTEGER"),
    "offset": "BIGINT",
    **dict.fromkeys(("latency_ms", "ttft_ms", "tokens_per_s", "cost_usd", "duration_ms",
                     "last_at"), "DOUBLE"),
    **dict.fromkeys(("streamed", "ok", "content_is_json"), "BOOLEAN"),
    **dict.fromkeys(("started_at", "ended_at", "created_at"), "TIMESTAMP"),
}  # every other column is text (JSON columns take their text)


# Batches at least this big go in through a pandas DataFrame (DuckDB scans it several times
# faster than it converts Python lists); smaller ones as typed lists, so that the agent's
# process need not import pandas (~200 ms) to ingest one session. None: pick by size.
PANDAS_MIN_ROWS = 2000
INSERT_VIA: str | None = None  # "pandas" or "lists" to force one way (tests)


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[tuple],
    verb: str = "INSERT",
) -> None:
    """Insert rows in one statement, from a DataFrame or from one typed list per column."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    via = INSERT_VIA or (
        "pandas" if len(rows) >= PANDAS_MIN_ROWS or "pandas" in sys.modules else "lists"
    )
    if via == "pandas":
        import pandas as pd

        view = f"_claw_rows_{table}"
        con.register(view, pd.DataFrame.from_records(rows, columns=list(columns)))
        try:
            con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM {view}")
        finally:
            con.unregister(view)
        return
    lists = ", ".join(
        f"unnest(${i}::{_COLUMN_TYPES.get(c, 'VARCHAR')}[])" for i, c in enumerate(columns, 1)
    )
    con.execute(f"{verb} INTO {table} ({names}) SELECT {lists}", [list(c) for c in zip(*rows)])


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


def _ingest(con: duckdb.DuckDBPyConnection, db_path: Path) -> int:
    """Ingest every journal of ``db_path`` through ``con`` (read-write, schema current)."""
    with _INGEST_LOCK:
        return _ingest_locked(con, db_path)


def _ingest_locked(con: duckdb.DuckDBPyConnection, db_path: Path) -> int:
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
        ids = sorted({r["session_id"] for _, _, r in merged
                      if isinstance(r.get("session_id"), str)})
        present = {c.name for c in chunks}
        con.begin()
        try:
            batch = _Batch(_existing_sessions(con, ids))
            for _, name, record in merged:
                batch.add(name, record)
            _write_batch(con, batch)
            if offsets.keys() - present:  # journals deleted after an earlier ingest
                con.execute(
                    'DELETE FROM journal_offsets WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))',
                    [sorted(present)])
                con.execute(
                    "DELETE FROM journal_sessions WHERE file NOT IN (SELECT unnest(?::VARCHAR[]))",
                    [sorted(present)])
            moved = [(c.name, c.end) for c in chunks if offsets.get(c.name) != c.end]
            _insert(con, "journal_offsets", ("file", "offset"), moved, "INSERT OR REPLACE")
            _mark_abnormal(con, chunks)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        if bad[0]:
            logger.warning("claw_nb: skipped %d unreadable journal line(s) in %s",
                           bad[0], directory)
        for chunk in chunks:
            if not chunk.live:  # writer gone and everything read: the journal is done
                chunk.release(delete=True)
        return batch.count
    finally:
        for chunk in chunks:
            chunk.release()


def _write_batch(con: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
    _insert(con, "prompts", ("sha", "name", "text", "created_at"), list(batch.prompts.values()),
            "INSERT OR IGNORE")
    rows = [tuple(batch.sessions[sid][c] for c in SESSION_COLUMNS) for sid in sorted(batch.touched)]
    _insert(con, "sessions", SESSION_COLUMNS, rows, "INSERT OR REPLACE")
    if batch.messages:
        # Replace messages logged again under the same seq (a resumed session's history).
        # DELETE + INSERT: INSERT OR REPLACE is about twice as slow on big batches.
        keys = list(batch.messages)
        con.execute(
            "DELETE FROM messages USING (SELECT unnest(?::VARCHAR[]) AS sid, "
            "unnest(?::INTEGER[]) AS n) AS k WHERE messages.session_id = k.sid "
            "AND messages.seq = k.n", [[k[0] for k in keys], [k[1] for k in keys]])
        _insert(con, "messages", MESSAGE_COLUMNS, list(batch.messages.values()))
    _insert(con, "llm_calls", LLM_CALL_COLUMNS, batch.llm_calls)
    _insert(con, "tool_calls", TOOL_CALL_COLUMNS, batch.tool_calls)
    _insert(con, "errors", ("session_id", "kind", "message", "created_at"), batch.errors)
    _insert(con, "todos", ("session_id", "todos", "created_at"), batch.todos)
    _insert(con, "compactions", COMPACTION_COLUMNS, batch.compactions)
    if batch.journal_sessions:
        keys = list(batch.journal_sessions)
        old = {(f, s): t for f, s, t in con.execute(
            "SELECT file, session_id, last_at FROM journal_sessions "
            "WHERE file IN (SELECT unnest(?::VARCHAR[]))", [sorted({f for f, _ in keys})]
        ).fetchall()}
        rows = [(f, s, max(t, old.get((f, s), t))) for (f, s), t in batch.journal_sessions.items()]
        _insert(con, "journal_sessions", ("file", "session_id", "last_at"), rows,
                "INSERT OR REPLACE")


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
            [_ts(last_at[sid]), sid],
        )


# -- the listener -------------------------------------------------------------------------------


class EventLog:
    """The agent's listener: every event but :class:`~claw_nb.events.TextDelta` becomes one line
    in a journal file of this log's own, and reaches the database at the next ingest.

    Never raises into the agent: the first failure is reported with ``warnings.warn``, later
    ones only to ``logging``. At the end of a session (``SessionEnded``) it closes its journal
    and tries once, for at most ``ingest_timeout`` seconds, to ingest; if the database is busy
    the next reader does it. ``fsync=True`` makes every event durable against power loss
    (costs a disk flush per event); without it an event survives the process being killed.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        fsync: bool = False,
        ingest_at_end: bool = True,
        ingest_timeout: float = END_OF_SESSION_TIMEOUT,
    ) -> None:
        self.db_path = _resolve(db_path)
        self.journal_dir = journal_dir(self.db_path)
        self.fsync = fsync
        self.ingest_at_end = ingest_at_end
        self.ingest_timeout = ingest_timeout
        self._writer: JournalWriter | None = None
        self._open_sessions: set[str] = set()
        self._lock = threading.Lock()
        self._warned = False
        self.failures = 0

    @property
    def journal_path(self) -> Path | None:
        """The journal being written, if one is open."""
        writer = self._writer
        return writer.path if writer is not None else None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.TextDelta):
            return
        try:
            ended = self._append(event)
        except Exception as exc:  # noqa: BLE001 - logging must never break the agent
            self._failed(exc)
            return
        if ended and self.ingest_at_end:
            self.try_ingest()

    def _append(self, event: ev.Event) -> bool:
        """Journal one event; True when it ended the last open session (journal closed)."""
        if isinstance(event, ev.SessionStarted):
            line = encode_event(event, _pid=os.getpid(), _host=_hostname())
        else:
            line = encode_event(event)
        with self._lock:
            writer = self._writer
            if writer is not None and writer.pid != os.getpid():
                writer = self._writer = None  # forked child: the parent's journal is not ours
                self._open_sessions.clear()
            if writer is None:
                writer = JournalWriter(self.journal_dir, event.session_id, fsync=self.fsync)
                self._writer = writer
            try:
                writer.append(line)
            except BaseException as exc:
                # A half-written line ends this journal; the next event opens another. A full
                # disk does not: the line waits in the writer (JournalFull.kept).
                if not getattr(exc, "kept", False):
                    writer.close()
                    self._writer = None
                raise
            if isinstance(event, ev.SessionEnded):
                self._open_sessions.discard(event.session_id)
                if not self._open_sessions:
                    writer.close()
                    self._writer = None
                    return True
            else:
                self._open_sessions.add(event.session_id)
        return False

    def try_ingest(self, timeout: float | None = None) -> int | None:
        """Ingest now if the database is free within ``timeout``; the event count or None."""
        try:
            return ingest(self.db_path, timeout=self.ingest_timeout if timeout is None else timeout)
        except StoreBusy:
            return None
        except Exception as exc:  # noqa: BLE001 - logging must never break the agent
            self._failed(exc)
            return None

    def close(self) -> None:
        """Close the journal (it stays on disk until ingested) and try to ingest."""
        with self._lock:
            writer, self._writer = self._writer, None
            self._open_sessions.clear()
        if writer is not None and writer.pid == os.getpid():
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - logging must never break the agent
                self._failed(exc)
            if self.ingest_at_end:
                self.try_ingest()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        logger.debug("claw_nb: event log %s failed: %r", self.journal_dir, exc)
        if not self._warned:
            self._warned = True
            try:  # with warnings turned into errors, this must still not raise into the agent
                warnings.warn(
                    f"claw_nb: the event log ({self.journal_dir}) failed: {type(exc).__name__}: "
                    f"{exc}. The agent keeps running; later log errors are logged at DEBUG "
                    "level only.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            except Exception:
                logger.debug("claw_nb: could not issue the event-log warning", exc_info=True)

    def __repr__(self) -> str:
        return f"EventLog({str(self.db_path)!r})"


_HOST: str | None = None


def _hostname() -> str:
    global _HOST
    if _HOST is None:
        _HOST = os.uname().nodename if hasattr(os, "uname") else ""
    return _HOST


# -- reading ------------------------------------------------------------------------------------


@contextmanager
def _reading(db_path: str | os.PathLike[str] | None, timeout: float) -> Iterator[Any]:
    """A connection for a read helper, after a best-effort ingest; None if there is no log."""
    path = _resolve(db_path)
    if not path.exists() and not list_journals(journal_dir(path)):
        yield None
        return
    con, read_only = _open(path, read_only=False, timeout=timeout, fallback_read_only=True)
    try:
        if not read_only:
            try:
                _ingest(con, path)
            except Exception as exc:  # noqa: BLE001 - best effort: the data read still works
                warnings.warn(f"claw_nb: could not ingest journals into {path}: {exc}",
                              stacklevel=3)
        yield con
    finally:
        con.close()


def list_sessions(
    db_path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> pandas.DataFrame:
    """Every session, newest first (running ones have ``stop_reason`` NULL)."""
    import pandas as pd

    with _reading(db_path, timeout) as con:
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

    with _reading(db_path, timeout) as con:
        if con is None:
            return pd.DataFrame(columns=[
                "session_id", "started_at", "model", "task", "steps", "llm_calls",
                "prompt_tokens", "completion_tokens", "tool_calls", "tool_errors", "model_ms",
                "tool_ms", "wall_s", "stop_reason"])
        return con.execute(SUMMARY_SQL).df()


def load_messages(
    db_path: str | os.PathLike[str] | None, session_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> list[dict[str, Any]]:
    """The session's conversation as OpenAI-format messages in order, ready to resume.

    A session started with ``resumed_from`` and a history gets that history back from the
    earlier session (messages before its own first ``seq``). Empty for an unknown session.
    """
    with _reading(db_path, timeout) as con:
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
