"""Opening the DuckDB log: where it lives, waiting for the file lock, migrating on open.

DuckDB lets one process at a time open a database file (even read-only opens fail while
another process writes), and several kernels and CLI runs log into one workspace at once. So
every open retries with backoff for a while, then raises :class:`StoreBusy` with a message
that says who holds the file and what to do.

DuckDB reports an interrupted query in two ways of its own; :func:`interrupts_translated` (used
by :func:`connected`) is the one place that turns them into what the rest of claw_nb knows.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from claw_nb.claw_dir import CLAW_DIR, DEFAULT_DB, ensure_claw_dir
from claw_nb.errors import ClawError
from claw_nb.log.database_index import register_database
from claw_nb.stop import Stopped, StopToken

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


@contextmanager
def interrupts_translated(stop: StopToken | None = None) -> Iterator[None]:
    """DuckDB's interruptions as claw_nb's: a Ctrl-C that DuckDB caught itself (it raises a
    plain ``RuntimeError("Query interrupted")``) goes on as KeyboardInterrupt, and a query that
    `con.interrupt()` cut (``duckdb.InterruptException``: a stop token's callback) as
    :class:`~claw_nb.stop.Stopped` with the stop's reason."""
    import duckdb

    try:
        yield
    except duckdb.InterruptException:
        reason = stop.reason if stop is not None and stop.reason else "the query was interrupted"
        raise Stopped(reason) from None
    except duckdb.Error:
        # a stop's signal can cut a read DuckDB was blocked in ("Interrupted system call"):
        # once the token is stopped, whatever the query failed with was the stop
        if stop is not None and stop.stopped:
            raise Stopped(stop.reason or "the query was interrupted") from None
        raise
    except RuntimeError as exc:
        if type(exc) is RuntimeError and str(exc).startswith("Query interrupted"):
            raise KeyboardInterrupt from None
        raise


@contextmanager
def connected(
    path: Path,
    *,
    read_only: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    fallback_read_only: bool = False,
    stop: StopToken | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The log for a moment (see :func:`open_database`), closed after, interruptions translated.

    With `stop`, stopping the token interrupts the query running on it (the body ends with
    :class:`~claw_nb.stop.Stopped`), and a token already stopped does not open the log at all.
    Without, only a second Ctrl-C can cut it: writes that record finished work take none.
    """
    with interrupts_translated(stop):
        if stop is not None:
            stop.raise_if_stopped()
        con, _ = open_database(
            Path(path), read_only=read_only, timeout=timeout, fallback_read_only=fallback_read_only
        )
        try:
            remove = stop.on_stop(con.interrupt) if stop is not None else _nothing
            try:
                if stop is not None:
                    stop.raise_if_stopped()  # stopped while opening: its interrupt came too soon
                yield con
            finally:
                remove()
        finally:
            con.close()


def _nothing() -> None:
    pass


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY_MARKERS)


def _connect_once(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    from claw_nb.log.schema import migrate  # here: a `claw-nb run` never opens the database

    con = duckdb.connect(str(path), read_only=read_only)
    try:
        # A missing table must be an error, never a Python variable of the same name.
        con.execute("SET python_enable_replacements = false")
        if not read_only:
            with _MIGRATING:  # two threads' first opens would race to create the same tables
                migrate(con)
    except BaseException:
        con.close()
        raise
    return con


_MIGRATING = threading.Lock()


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
