"""The index of this user's log databases, so the sandbox can hide every one of them.

One small file, ``<journals>/databases.txt``, hidden from commands like the journals: the
sandbox reads it before each command instead of scanning every journal folder.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from claw_nb.log.journal_paths import journal_root

DATABASES_FILE = "databases.txt"
MAX_DATABASES_BYTES = 1 << 20


def _databases_file() -> Path:
    return journal_root() / DATABASES_FILE


def _read_databases() -> list[str]:
    try:
        fd = os.open(_databases_file(), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        text = f.read(MAX_DATABASES_BYTES).decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.startswith("/") and "\0" not in line]


def register_database(db_path: str | os.PathLike[str]) -> None:
    """Add a log database to this user's index (`<journals>/databases.txt`, hidden from
    commands like the journals), so the sandbox can hide every one of them. Never raises."""
    real = os.path.realpath(os.path.abspath(db_path))
    if "\n" in real or real in _read_databases():
        return
    with contextlib.suppress(OSError):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(_databases_file(), flags, 0o600)
        try:
            os.write(fd, (real + "\n").encode("utf-8"))
        finally:
            os.close(fd)


def registered_databases() -> list[Path]:
    """The indexed log databases that still exist; the index forgets the others once they are
    the larger part of it (a database that comes back is indexed again when it is opened)."""
    return [Path(line) for line in registered_database_paths()]


def registered_database_paths() -> list[str]:
    """:func:`registered_databases` as strings."""
    listed = listed_databases()
    alive = [line for line in listed if os.path.lexists(line)]
    forget_missing(listed, alive)
    return alive


def index_state() -> tuple[int, int, int, int] | None:
    """The index file's identity and last change (None: no index): what a cache of the
    databases it lists is keyed by."""
    try:
        st = os.stat(_databases_file())
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def listed_databases() -> list[str]:
    """Every path the index holds, each once, whether it exists or not."""
    return list(dict.fromkeys(_read_databases()))


def forget_missing(listed: list[str], alive: list[str]) -> None:
    """Rewrite the index with ``alive`` only, once the missing are the larger part of it."""
    if len(listed) > 64 and len(alive) * 2 < len(listed):
        with contextlib.suppress(OSError):
            tmp = _databases_file().with_name(f".{DATABASES_FILE}.{os.getpid()}.tmp")
            tmp.write_text("".join(f"{line}\n" for line in alive), encoding="utf-8")
            os.chmod(tmp, 0o600)
            os.replace(tmp, _databases_file())
