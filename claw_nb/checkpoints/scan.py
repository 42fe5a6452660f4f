"""What a command changed: a stat scan of the workspace before and after it, within limits.

A command can change any file, so the files it changed are found by comparing two scans:
(size, mtime, ctime, inode) per regular file. ctime cannot be set back by a process, so a file
whose four numbers are unchanged holds the content hashed last time. Only files whose numbers
changed are read again. The limits keep a scan cheap on a large workspace:

- folders skipped: `.git/`, `.claw/`, folders `.gitignore` ignores, and tool caches and
  environments (`SKIPPED_DIRS`): a command that changes files there is not recorded;
- files over `MAX_FILE_BYTES` are noticed but their content is not kept (not restorable);
- a workspace with more than `MAX_FILES` files is not scanned: its commands are reported as
  unrecorded.

Symbolic links are not followed and not recorded. Content is read through
`claw_nb.untrusted` (confined to the workspace, no link followed, regular files only).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from claw_nb.checkpoints.store import TOO_LARGE, UNREADABLE, CheckpointStore
from claw_nb.tools.ignore import ALWAYS_SKIPPED, GitIgnore
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted

MAX_FILES = 10_000
MAX_FILE_BYTES = 4 << 20
SKIPPED_DIRS = frozenset(
    {
        "node_modules",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)

StatKey = tuple[int, int, int, int]


class TooManyFiles(Exception):
    """The workspace has more files than a scan takes."""


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def scan_workspace(workspace: Path, max_files: int = MAX_FILES) -> dict[str, StatKey]:
    """Relative POSIX path -> stat key of every regular file outside the skipped folders.

    Raises TooManyFiles past `max_files`."""
    root = Path(os.path.realpath(workspace))
    ignore = GitIgnore(root)
    found: dict[str, StatKey] = {}
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(folder, root)
        prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = [
            d
            for d in sorted(dirnames)
            if d not in ALWAYS_SKIPPED
            and d not in SKIPPED_DIRS
            and not os.path.islink(os.path.join(folder, d))
            and not ignore.is_ignored(prefix + d, True)
        ]
        for name in filenames:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue  # gone since the listing
            if not stat.S_ISREG(st.st_mode):
                continue
            if len(found) >= max_files:
                raise TooManyFiles(
                    f"the workspace has more than {max_files:,} files outside ignored folders"
                )
            found[prefix + name] = stat_key(st)
    return found


def capture(store: CheckpointStore, workspace: Path, rel: str) -> str | None:
    """Keep the current content of `rel` in the store: its hash, None when there is no such
    file, or TOO_LARGE / UNREADABLE."""
    try:
        data = read_untrusted(workspace, rel, max_bytes=MAX_FILE_BYTES + 1, hidden=())
    except (UntrustedPathRefused, OSError):
        return UNREADABLE
    if data is None:
        return None
    if len(data) > MAX_FILE_BYTES:
        return TOO_LARGE
    return store.put(data)


def current_bytes(workspace: Path, rel: str) -> bytes | None | str:
    """The file's bytes now (None: absent), or TOO_LARGE / UNREADABLE, without keeping them."""
    try:
        data = read_untrusted(workspace, rel, max_bytes=MAX_FILE_BYTES + 1, hidden=())
    except (UntrustedPathRefused, OSError):
        return UNREADABLE
    if data is not None and len(data) > MAX_FILE_BYTES:
        return TOO_LARGE
    return data
