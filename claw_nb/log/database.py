"""Opening the DuckDB log: where it lives, waiting for the file lock, migrating on open.

DuckDB lets one process at a time open a database file (even read-only opens fail while
another process writes), and several kernels and CLI runs log into one workspace at once. So
every open retries with backoff for a while, then raises :class:`StoreBusy` with a message
that says who holds the file and what to do.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from claw_nb.claw_dir import CLAW_DIR, DEFAULT_DB, ensure_claw_dir
from claw_nb.errors import ClawError
from claw_nb.log.database_index import register_database
from claw_nb.log.schema import migrate

if TYPE_CHECKING:
    import duckdb

DEFAULT_TIMEOUT = 10.0  # seconds to wait for another process to release the database
END_OF_SESSION_TIMEOUT = 0.5  # how long an EventLog waits for the database at session end


def default_db_path(workspace: str | os.PathLike[str] | None = None) -> Path:
    """``$CLAW_DB`` if set, else ``<workspace or cwd>/.claw/claw.duckdb``."""
    env = os.environ.get("CLAW_DB")
    if env:
        return Path(env).expanduser()
    return Path(workspace if workspace is not None else Path.cwd()) / DEFAULT_DB


def resolve_db_path(db_path: str | os.PathLike[str] | None) -> Path:
    """``db_path`` expanded, or the default log when None."""
    return Path(db_path).expanduser() if db_path is not None else default_db_path()


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


def is_interrupted_query(exc: BaseException) -> bool:
    """Ctrl-C (SIGINT) that arrived while DuckDB ran a query: DuckDB 2.0 raises a plain
    ``RuntimeError("Query interrupted")`` instead of KeyboardInterrupt; treat it as one."""
    return isinstance(exc, KeyboardInterrupt) or (
        type(exc) is RuntimeError and str(exc).startswith("Query interrupted")
    )


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


def open_database(
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
                if path.parent.name == CLAW_DIR:
                    ensure_claw_dir(path.parent.parent)  # with its .gitignore
                path.parent.mkdir(parents=True, exist_ok=True)
                register_database(path)  # so commands never read it (sandbox masks)
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


def for_user(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Give back DuckDB's defaults (querying DataFrames by variable name) to a user's connection."""
    con.execute("RESET python_enable_replacements")
    return con
