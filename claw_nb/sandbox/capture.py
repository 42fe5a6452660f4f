"""Keeping a command's output: head and tail in memory, the whole (capped) in a file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
SAVE_OVER_BYTES = 30_000  # output above this is saved to a file (run_command shows ~30,000 chars)
KEEP_OUTPUT_FILES = 200  # older saved outputs are deleted


class CappedBuffer:
    """Keeps the first ``head`` and last ``tail`` bytes of a stream, counting all bytes."""

    def __init__(self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES):
        self.head_limit = head
        self.tail_limit = tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit > 0:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:  # trim now and then, not on every chunk
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
        omitted = self.total - len(self.head) - len(tail)
        head_text = self.head.decode("utf-8", errors="replace")
        tail_text = tail.decode("utf-8", errors="replace")
        if omitted > 0:
            return f"{head_text}\n... [{omitted} bytes omitted] ...\n{tail_text}"
        return head_text + tail_text


class OutputLog:
    """The full output (stdout and stderr in arrival order) of one command, saved to a file once
    it passes ``threshold`` bytes. Past ``max_bytes`` the file keeps its start and the last
    ``tail_bytes``, with a marker for what was left out."""

    def __init__(
        self,
        directory: Path,
        threshold: int = SAVE_OVER_BYTES,
        max_bytes: int = 64 << 20,
        tail_bytes: int = 1 << 20,
    ):
        self.directory = Path(directory)
        self.threshold = threshold
        max_bytes = max_bytes if max_bytes > 0 else sys.maxsize
        self.tail_limit = min(tail_bytes, max_bytes // 4)
        self.head_limit = max_bytes - self.tail_limit
        self.max_bytes = max_bytes
        self.pending = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.written = 0
        self.path: Path | None = None
        self._file = None
        self._failed = False

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self._failed:
            return
        if self._file is None:
            self.pending += data
            if len(self.pending) > self.threshold:
                self._open()
                pending, self.pending = self.pending, bytearray()
                self._write(bytes(pending))
        else:
            self._write(data)

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(4).hex()}.log"
            self.path = self.directory / name
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            self._file = os.fdopen(os.open(self.path, flags, 0o600), "wb")
            _prune_outputs(self.directory, KEEP_OUTPUT_FILES)
        except OSError:
            self._failed, self.path, self._file = True, None, None

    def _write(self, data: bytes) -> None:
        if self._file is None:
            return
        room = self.head_limit - self.written
        if room > 0:
            chunk = data[:room]
            try:
                self._file.write(chunk)
                self.written += len(chunk)
            except OSError:
                self._failed = True
                return
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def close(self) -> str | None:
        """Finish the file; its path, or None if nothing was saved."""
        if self._file is None:
            return None
        try:
            tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
            omitted = self.total - self.written - len(tail)
            if omitted > 0:
                self._file.write(
                    f"\n... [{omitted} bytes omitted: this file keeps the first "
                    f"{self.written} and the last {len(tail)} bytes] ...\n".encode()
                )
            self._file.write(tail)
            self._file.close()
        except OSError:
            pass
        self._file = None
        return str(self.path) if self.path else None


def _prune_outputs(directory: Path, keep: int) -> None:
    try:
        logs = sorted(p for p in directory.iterdir() if p.suffix == ".log")
    except OSError:
        return
    for old in logs[: max(0, len(logs) - keep)]:
        try:
            old.unlink()
        except OSError:
            pass
