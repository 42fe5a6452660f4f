"""Append-only journals: how events get to disk without touching the DuckDB lock.

DuckDB lets one process at a time hold a database file, so the agent never opens it while a
session runs. Each :class:`JournalWriter` appends one JSON line per event to its own file,
``<db_dir>/journal/<db_stem>/<label>-<uuid>.jsonl``, with a plain ``os.write`` on an
``O_APPEND`` descriptor. The writer holds an exclusive ``flock`` on the file for as long as it
is open, so a reader can tell a live writer (lock held) from a finished or dead one (lock free):
the kernel drops the lock when the process exits, however it exits.

A line is complete once its trailing newline is on disk. The last line of a journal whose
writer died mid-write may lack it; readers ignore such a line while the writer lives and drop it
once the writer is dead. `claw_nb.log.store.ingest` moves complete lines into DuckDB.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

SUFFIX = ".jsonl"
TMP_SUFFIX = ".tmp"
# Keys the journal adds to an event's own fields (event field names never start with "_").
TYPE_KEY = "_ev"
TIME_KEY = "_t"


def journal_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where the journals of the database ``db_path`` live: ``<db_dir>/journal/<db_stem>``.

    One directory per database file, so two databases side by side never take each other's
    journals.
    """
    db_path = Path(db_path)
    return db_path.parent / "journal" / db_path.stem


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:64].lstrip(".") or "events"


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


class JournalWriter:
    """An open journal: append lines; the exclusive flock is held until :meth:`close`.

    The file is created under a hidden temporary name, locked, then renamed, so a reader never
    sees an unlocked journal that is about to be written.
    """

    def __init__(self, directory: str | os.PathLike[str], label: str = "", *, fsync: bool = False):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{_safe_label(label or str(os.getpid()))}-{uuid.uuid4().hex}{SUFFIX}"
        tmp = directory / f".{name}{TMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o644)
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

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, data: bytes) -> None:
        """Write ``data`` (whole lines) at the end of the file; loops over short writes."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"journal {self.path} is closed")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(fd)

    def close(self) -> None:
        """Close the file, which releases the lock (in this process; a forked copy of the
        descriptor keeps it until that copy closes too)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JournalWriter({str(self.path)!r}, closed={self.closed})"


def list_journals(directory: str | os.PathLike[str]) -> list[Path]:
    """The journal files in ``directory``, by name (empty when it does not exist)."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(SUFFIX)
                           and not e.name.startswith("."))
    except FileNotFoundError:
        return []
    return [Path(directory) / name for name in names]


@dataclasses.dataclass
class JournalChunk:
    """What a reader found in one journal past a byte offset.

    ``lines`` are the complete lines (without newlines); ``end`` is the offset just past the
    last of them. ``live`` tells whether a writer still holds the file; when it does not, the
    reader holds the lock itself until :meth:`release`, and any partial last line is abandoned.
    """

    path: Path
    offset: int
    end: int
    lines: list[bytes]
    live: bool
    partial: int  # bytes after the last newline
    _fd: int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def release(self, delete: bool = False) -> None:
        """Unlock (and with ``delete``, first remove) a journal read by a reader."""
        if delete:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def read_journal(path: str | os.PathLike[str], offset: int = 0) -> JournalChunk | None:
    """Read the complete lines of ``path`` past ``offset``; None if the file is gone.

    Liveness is decided before reading: a writer that dies after the check just leaves its
    remaining lines for the next reader.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            live = False
        except BlockingIOError:
            live = True
        size = os.fstat(fd).st_size
        offset = min(offset, size)  # an append-only file never shrinks; never re-read a line
        data = os.pread(fd, size - offset, offset) if size > offset else b""
    except BaseException:
        os.close(fd)
        raise
    cut = data.rfind(b"\n") + 1
    lines = [line for line in data[:cut].split(b"\n")[:-1] if line.strip()] if cut else []
    chunk = JournalChunk(path, offset, offset + cut, lines, live, len(data) - cut)
    if live:
        os.close(fd)
    else:
        chunk._fd = fd
    return chunk


def decode_line(line: bytes) -> dict[str, Any] | None:
    """A journal line back as a dict; None when it is not a JSON object with a type."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get(TYPE_KEY), str):
        return None
    return record


def remove_stale_temporaries(directory: str | os.PathLike[str], older_than: float = 60.0) -> None:
    """Delete temporary journal files left by writers killed between create and rename."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX)):
            continue
        try:
            if now - entry.stat().st_mtime < older_than:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
        except OSError:
            pass
        finally:
            os.close(fd)
