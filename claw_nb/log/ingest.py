"""Moving journal lines into DuckDB, one transaction per ingest.

:func:`ingest` reads every journal's new complete lines, has `claw_nb.log.rows` build the rows
for every table, writes them in one transaction, remembers how far it read
in ``journal_offsets``, deletes journals whose writer has finished, and marks sessions whose
writer died without a ``SessionEnded`` as ``stop_reason = 'abnormal'``.

A system message's text is stored once, in ``prompts`` (its ``messages`` row has ``content``
NULL and ``prompt_sha`` set); the tool schemas a session was sent are stored once, in
``tool_schemas``, by their sha.
"""

from __future__ import annotations

import heapq
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.lazy_logger import get_logger
from claw_nb.log.database import DEFAULT_TIMEOUT, open_database, resolve_db_path
from claw_nb.log.journal import TIME_KEY, TYPE_KEY, decode_line
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.journal_reader import (
    JournalChunk,
    list_journals,
    read_journal,
    remove_stale_temporaries,
)
from claw_nb.log.rows import SESSION_COLUMNS, Batch, ts
from claw_nb.log.schema import all_tables

if TYPE_CHECKING:
    import duckdb

logger = get_logger(__name__)


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
    spec = all_tables()[table]
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
    insert_rows(con, "hook_runs", batch.hook_runs, via=via)
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
