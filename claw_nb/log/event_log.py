"""The agent's listener that logs every event: a journal line now, DuckDB at the session's end.

The agent never holds the database during a session (DuckDB lets one process at a time open
the file): each event is appended as one JSON line to a journal of this log's own
(`claw_nb.log.journal`), about ten microseconds an event, and at the end of a session the log
tries once, briefly, to move the journals into the database (`claw_nb.log.ingest`).
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from claw_nb import events as ev
from claw_nb.lazy_logger import get_logger
from claw_nb.log.database import END_OF_SESSION_TIMEOUT, StoreBusy, resolve_db_path
from claw_nb.log.journal import JournalWriter, encode_event
from claw_nb.log.journal_paths import journal_dir

if TYPE_CHECKING:
    from typing import Self

logger = get_logger(__name__)

_TRANSIENT = (ev.TextDelta, ev.ToolCallProgress)  # for the live views only: never journaled


class EventLog:
    """The agent's listener: every event but the transient ones (:class:`~claw_nb.events.TextDelta`,
    :class:`~claw_nb.events.ToolCallProgress`) becomes one line in a journal file of this log's
    own, and reaches the database at the next ingest.

    Never raises into the agent: the first failure is reported with ``warnings.warn``, later
    ones only to ``logging``. At the end of a session (``SessionEnded``) it closes its journal
    and tries once, for at most ``ingest_timeout`` seconds, to ingest; if the database is busy
    the next reader does it. ``fsync=True`` makes every event durable against power loss
    (costs a disk flush per event); without it an event survives the process being killed,
    and the journal is fsynced once it is closed, with the files the run wrote
    (`claw_nb.durable`).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        fsync: bool = False,
        ingest_at_end: bool = True,
        ingest_timeout: float = END_OF_SESSION_TIMEOUT,
    ) -> None:
        self.db_path = resolve_db_path(db_path)
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
        if isinstance(event, _TRANSIENT):
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
            elif not isinstance(event, ev.HookRan):  # SessionEnd hooks run after the end
                self._open_sessions.add(event.session_id)
        return False

    def try_ingest(self, timeout: float | None = None) -> int | None:
        """Ingest now if the database is free within ``timeout``; the event count or None."""
        try:
            from claw_nb.log.ingest import ingest  # here: `claw-nb run` leaves that to a reader

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
