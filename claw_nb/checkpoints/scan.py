"""What a command changed: a stat scan of the workspace before and after it, within limits.

A command can change any file, so the files it changed are found by comparing two scans:
(size, mtime, ctime, inode) per regular file. ctime cannot be set back by a process, so a file
whose four numbers are unchanged holds the content hashed last time. Only files whose numbers
changed are read again. The limits keep a scan cheap on a large workspace:

- folders skipped: `.git/`, `.claw/`, folders `.gitignore` ignores, and tool caches and
  environments (`SKIPPED_DIRS`): a command that changes files there is not recorded;
- files over `MAX_FILE_BYTES` are noticed but their content is not kept (not restorable), and
  one scan reads at most `MAX_SCAN_BYTES` of files it has not seen (the first scan of a
  workspace full of data files would otherwise copy all of them);
- a workspace with more than `MAX_FILES` files is not scanned: its commands are reported as
  unrecorded.

Symbolic links are not followed and not recorded. Content is read through
`claw_nb.untrusted` (confined to the workspace, no link followed, regular files only).
"""

from __future__ import annotations

import os
from pathlib import Path

from claw_nb.checkpoints.store import TOO_LARGE, UNREADABLE, CheckpointStore
from claw_nb.realpaths import realpath
from claw_nb.tools.ignore import ALWAYS_SKIPPED, GitIgnore
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted

MAX_FILES = 10_000
MAX_FILE_BYTES = 4 << 20
MAX_SCAN_BYTES = 256 << 20
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


def scan_workspace(workspace: Path, max_files: int | None = None) -> dict[str, StatKey]:
    """Relative POSIX path -> stat key of every regular file outside the skipped folders.

    Raises TooManyFiles past `max_files` (default `MAX_FILES`)."""
    max_files = MAX_FILES if max_files is None else max_files
    root = realpath(workspace)
    ignore = GitIgnore(Path(root))
    found: dict[str, StatKey] = {}
    folders = [""]
    while folders:
        prefix = folders.pop()
        try:
            entries = os.scandir(os.path.join(root, prefix) if prefix else root)
        except OSError:
            continue  # gone, or swapped for something else, since it was listed
        with entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):  # the kernel's d_type: no syscall
                    if entry.name not in ALWAYS_SKIPPED and entry.name not in SKIPPED_DIRS:
                        if not ignore.is_ignored(rel, True):
                            folders.append(rel + "/")
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # links, FIFOs, sockets, devices
                if len(found) >= max_files:
                    raise TooManyFiles(
                        f"the workspace has more than {max_files:,} files outside ignored folders"
                    )
                try:
                    found[rel] = stat_key(entry.stat(follow_symlinks=False))
                except OSError:
                    continue  # gone since the listing
    return found


class ReadBudget:
    """The bytes one scan may still read of files whose content it does not hold yet."""

    def __init__(self) -> None:
        self.left = MAX_SCAN_BYTES

    def take(self, size: int) -> bool:
        """Spend what reading a file of `size` bytes costs; False when it does not fit."""
        cost = min(size, MAX_FILE_BYTES)
        if cost > self.left:
            return False
        self.left -= cost
        return True


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
