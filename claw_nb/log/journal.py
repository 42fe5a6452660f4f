"""Append-only journals: how events get to disk without touching the DuckDB lock.

DuckDB lets one process at a time hold a database file, so the agent never opens it while a
session runs. Each :class:`JournalWriter` appends one JSON line per event to its own file,
``<cache>/claw_nb/journals/<db_stem>-<hash of the db path>/<label>-<uuid>.jsonl``, with a plain
``os.write`` on an ``O_APPEND`` descriptor.

Ingest trusts what a journal says, so journals live where the agent cannot write: not next to
the database (often inside the workspace, which sandboxed commands and file tools write) but in
the user's cache directory, mode 0700, which the bubblewrap sandbox also hides (see
:mod:`claw_nb.log.journal_paths`). The writer holds an exclusive ``flock`` on the file for as
long as it is open, so a reader (:mod:`claw_nb.log.journal_reader`) can tell a live writer (lock
held) from a finished or dead one (lock free): the kernel drops the lock when the process exits,
however it exits.

A line is complete once its trailing newline is on disk. The last line of a journal whose
writer died mid-write may lack it; readers ignore such a line while the writer lives and drop it
once the writer is dead. `claw_nb.log.store.ingest` moves complete lines into DuckDB.

A full disk does not tear the journal: a line that cannot be written is rolled back, kept in
memory (bounded) and written before the next one once space frees up; a journal left empty
is removed when it closes.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb import durable
from claw_nb.log.journal_paths import safe_label

if TYPE_CHECKING:
    from typing import Self

SUFFIX = ".jsonl"
TMP_SUFFIX = ".tmp"
# Keys the journal adds to an event's own fields (event field names never start with "_").
TYPE_KEY = "_ev"
TIME_KEY = "_t"


# Errors that mean "no room now": the line is kept in memory and retried.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
MAX_BACKLOG_BYTES = 16 << 20


def _jsonable(value: Any) -> Any:
    """Fallback for json.dumps: anything not JSON becomes a list, a dict or its str()."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    for attr in ("tolist", "item"):  # numpy arrays and scalars, without importing numpy
        method = getattr(value, attr, None)
        if callable(method):
            try:
                return method()
            except (TypeError, ValueError):
                break
    return str(value)


_FIELDS: dict[type, tuple[str, ...]] = {}


def encode_event(event: Any, **extra: Any) -> bytes:
    """One journal line (newline included) for a dataclass event: its type name, the time,
    ``extra`` keys and every field."""
    cls = type(event)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(event))
    record: dict[str, Any] = {TYPE_KEY: cls.__name__, TIME_KEY: time.time()}
    record.update(extra)
    for name in names:
        record[name] = getattr(event, name)
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_jsonable)
    # Lone surrogates (undecodable bytes smuggled through str) cannot be UTF-8: replace them.
    return (text + "\n").encode("utf-8", "replace")


class JournalFull(OSError):
    """The disk is full: the line waits in memory and the writer stays open (no torn line)."""

    def __init__(self, path: Path, waiting: int):
        super().__init__(
            errno.ENOSPC,
            f"no space left for journal {path}; {waiting} event(s) "
            "wait in memory and are written once space frees up",
        )
        self.kept = True


class JournalWriter:
    """An open journal: append lines; the exclusive flock is held until :meth:`close`.

    The file is created under a hidden temporary name, locked, then renamed, so a reader never
    sees an unlocked journal that is about to be written.
    """

    def __init__(self, directory: str | os.PathLike[str], label: str = "", *, fsync: bool = False):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{safe_label(label or str(os.getpid()))}-{os.urandom(16).hex()}{SUFFIX}"
        tmp = directory / f".{name}{TMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, directory / name)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.path = directory / name
        self.pid = os.getpid()
        self.fsync = fsync
        self._fd: int | None = fd
        self._end = 0  # bytes of complete lines on disk
        self._backlog: list[bytes] = []  # lines that found no room on disk yet
        self.lost = 0  # lines dropped because the backlog was full

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def backlog(self) -> int:
        """Lines waiting in memory for room on disk."""
        return len(self._backlog)

    def append(self, data: bytes) -> None:
        """Write ``data`` (whole lines) at the end of the file; loops over short writes.

        When the disk is full the write is rolled back, ``data`` waits in memory (up to
        ``MAX_BACKLOG_BYTES``) and :class:`JournalFull` is raised; the writer stays usable and
        writes the waiting lines first, in order, at the next append or at close.
        """
        if self._fd is None:
            raise ValueError(f"journal {self.path} is closed")
        if self._backlog:
            if sum(map(len, self._backlog)) + len(data) > MAX_BACKLOG_BYTES:
                self.lost += 1
            else:
                self._backlog.append(data)
            self._flush_backlog()
            return
        self._write_or_keep(data)

    def _write_or_keep(self, data: bytes) -> None:
        fd = self._fd
        assert fd is not None
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            try:  # no torn line: cut the file back to the last complete one
                os.ftruncate(fd, self._end)
            except OSError:
                pass
            self._backlog.insert(0, data)
            raise JournalFull(self.path, len(self._backlog)) from exc
        self._end += len(data)

    def _flush_backlog(self) -> None:
        while self._backlog:
            data = self._backlog.pop(0)
            self._write_or_keep(data)  # re-queues it at the front and raises when still full

    def close(self) -> None:
        """Write what waits in memory if there is room now, then close the file, which
        releases the lock (in this process; a forked copy of the descriptor keeps it until
        that copy closes too), and have it fsynced with the files written meanwhile
        (`claw_nb.durable`). A journal with nothing in it is removed."""
        if self._fd is not None and self._backlog:
            try:
                self._flush_backlog()
            except OSError:
                self.lost += len(self._backlog)
                self._backlog.clear()
        fd, self._fd = self._fd, None
        if fd is not None:
            empty = False
            try:
                if self._end == 0 and os.fstat(fd).st_size == 0:
                    os.unlink(self.path)
                    empty = True
            except OSError:
                pass
            os.close(fd)
            if not empty:  # the session's record: durable once it ends (in the background)
                _sync_later(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JournalWriter({str(self.path)!r}, closed={self.closed})"


def _sync_later(path: Path) -> None:
    """Have a closed journal and its folder fsynced (new descriptors: no lock with them)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # gone already (ingested and removed)
    try:
        folder: int | None = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        folder = None
    durable.sync_later(fd, folder)
    durable.flush()  # a session ended: its journal and the files it wrote go to disk now


def decode_line(line: bytes) -> dict[str, Any] | None:
    """A journal line back as a dict; None when it is not a JSON object with a type."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get(TYPE_KEY), str):
        return None
    return record
