"""Reading journals: list them, take the complete lines past an offset, clean up after
writers killed between create and rename.

A reader tells a live writer (its ``flock`` held) from a finished or dead one (lock free); the
partial last line of a dead writer is dropped.

Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

from claw_nb.log.journal import SUFFIX, TMP_SUFFIX
from claw_nb.records import record


def list_journals(directory: str | os.PathLike[str]) -> list[Path]:
    """The journal files in ``directory``, by name (empty when it does not exist)."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(
                e.name for e in entries if e.name.endswith(SUFFIX) and not e.name.startswith(".")
            )
    except FileNotFoundError:
        return []
    return [Path(directory) / name for name in names]


@record
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
        # not a symlink, and never block opening a FIFO planted under a journal's name
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device would block the reader
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
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
