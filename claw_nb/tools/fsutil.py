"""Small file-system helpers shared by the file tools: atomic writes and text detection."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

BINARY_SNIFF_BYTES = 8192


def _default_file_mode() -> int:
    """0o666 minus the process umask, read without changing it (falls back to 0o644)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def atomic_write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; return True if the file was created.

    The data goes to a temporary file in the same directory, is fsynced, gets the existing file's
    permission bits (or the umask default for a new file) and then replaces ``path``. Parent
    directories are created. On any failure the temporary file is removed.
    """
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        created = False
    except FileNotFoundError:
        mode = _default_file_mode()
        created = True
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(parent, os.O_RDONLY)
    except OSError:
        return created
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return created


def looks_binary(head: bytes) -> bool:
    """True if the first bytes of a file contain a NUL byte."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def sniff_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return looks_binary(f.read(BINARY_SNIFF_BYTES))


def count_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)
