"""Git metadata a sandboxed command can neither change nor create.

Git runs code from its metadata: hooks, ``core.fsmonitor``, ``core.hooksPath``, pagers, filter
and diff drivers, and ``commondir`` / gitfiles that point git at another directory holding all
of these. Anything a command leaves there runs on the host at the user's next ``git status``.
Protecting a list of files inside ``.git`` leaves the class open (move ``.git`` away and make a
new one, write ``commondir``, replace a worktree's ``.git`` file), so:

* **Before each command** every git metadata entry in the workspace -- each ``.git``
  directory, file or symlink at any depth, and what a gitfile (and its ``commondir``) points
  to -- is bound read-only. A bind mount cannot be renamed, replaced or deleted, so ``.git``
  cannot be swapped for a new one either. Git inside still reads (status, diff, log, blame);
  it cannot write (add, commit, checkout): the user commits.
* Where the workspace has no ``.git``, an empty read-only directory is mounted there for the
  command (and removed afterwards), so no repository can be created at the top.
* **After each command** the workspace is scanned for ``.git`` entries that were not there
  before (a ``git init`` or ``git clone`` in a subdirectory, a planted gitfile); each is moved
  to ``.claw/quarantine/<stamp>/<dir>/dot-git``, where no git takes it for a repository, and
  the command's result says so. A ``.git`` symlink the command removed is put back.
  The scan is breadth first and bounded (``MAX_SCANNED`` entries, ``SKIP_DIRS`` not
  entered): it costs about a millisecond per thousand entries, twice per command.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import field
from pathlib import Path

from claw_nb.claw_dir import CLAW_DIR, QUARANTINE_DIR
from claw_nb.records import record
from claw_nb.untrusted import read_regular_file

QUARANTINE = QUARANTINE_DIR
_counter = itertools.count()
# commands of this process running with a placeholder, per workspace: the last one removes it
# (removing a mount point on the host detaches it in every sandbox still using it)
_placeholders: dict[Path, int] = {}
_placeholder_lock = threading.Lock()


@record
class GitState:
    """The git metadata of a workspace just before a command."""

    workspace: Path
    entries: dict[Path, tuple[int, int, int]]  # each .git path: (st_dev, st_ino, st_mode)
    links: dict[Path, str] = field(default_factory=dict)  # .git symlinks: their targets
    targets: list[Path] = field(default_factory=list)  # what gitfiles point to
    placeholder: bool = False  # the workspace had no .git: an empty one is mounted
    started: float = field(default_factory=time.time)  # when the scan began
    quarantine_to: Path | None = None  # whose .claw/quarantine (default: this root's)

    def bwrap_args(self) -> list[str]:
        """Read-only binds of every entry and target, and the placeholder."""
        args: list[str] = []
        root = self.workspace / ".git"
        if self.placeholder:
            args += ["--tmpfs", str(root), "--remount-ro", str(root)]
        for path in [*self.entries, *self.targets]:
            if path.is_symlink():
                continue  # bwrap would follow it; its real target is among the targets
            if path.exists():
                args += ["--ro-bind", str(path), str(path)]
        return args


# Directories tools fill with thousands of files nobody runs git in; not scanned for nested
# repositories (the workspace's own .git is always protected, scan or not).
SKIP_DIRS = frozenset(
    {
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        CLAW_DIR,
    }
)
MAX_SCANNED = 10_000  # entries per scan, breadth first: a huge tree is scanned near the top


def find_git_entries(root: Path) -> dict[Path, tuple[int, int, int]]:
    """Every entry named ``.git`` under ``root`` (breadth first, up to ``MAX_SCANNED`` entries;
    not inside a ``.git``, a ``SKIP_DIRS`` directory or a symlinked directory), with its
    identity. ``root/.git`` itself is always included when it exists."""
    found: dict[Path, tuple[int, int, int]] = {}
    top = root / ".git"
    try:
        st = os.lstat(top)
        found[top] = (st.st_dev, st.st_ino, st.st_mode)
    except OSError:
        pass
    todo = deque([str(root)])
    scanned = 0
    while todo and scanned < MAX_SCANNED:
        here = todo.popleft()
        try:
            with os.scandir(here) as it:
                for entry in it:
                    scanned += 1
                    if entry.name == ".git":
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        found[Path(entry.path)] = (st.st_dev, st.st_ino, st.st_mode)
                        continue
                    if entry.name in SKIP_DIRS:
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                    except OSError:
                        pass
        except OSError:
            continue
    return found


def _gitfile_target(gitfile: Path) -> Path | None:
    """The directory a ``.git`` file (``gitdir: PATH``) points to."""
    data = read_regular_file(gitfile, max_bytes=4096)
    if data is None:
        return None
    text = data.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("gitdir:"):
            raw = line[len("gitdir:") :].strip()
            if raw:
                p = Path(raw) if os.path.isabs(raw) else gitfile.parent / raw
                return Path(os.path.realpath(p))
    return None


def _commondir(gitdir: Path) -> Path | None:
    data = read_regular_file(gitdir / "commondir", max_bytes=4096)
    if data is None:
        return None
    raw = data.decode("utf-8", "replace").strip()
    if not raw:
        return None
    return Path(os.path.realpath(raw if os.path.isabs(raw) else gitdir / raw))


def targets_of(entries: dict[Path, tuple[int, int, int]]) -> list[Path]:
    """The directories git would use through these entries besides themselves: a gitfile's
    gitdir, a symlink's target, and a gitdir's commondir."""
    out: list[Path] = []
    for path in entries:
        gitdirs: list[Path] = []
        if path.is_symlink():
            gitdirs.append(Path(os.path.realpath(path)))
        elif path.is_file():
            target = _gitfile_target(path)
            if target is not None:
                gitdirs.append(target)
        else:
            gitdirs.append(path)
        for gitdir in gitdirs:
            common = _commondir(gitdir) if gitdir.is_dir() else None
            for p in (gitdir, common):
                if p is not None and p != path and p not in out and p != Path("/"):
                    out.append(p)
    return out


@record
class GitGuard:
    """The git metadata of the workspace and of every extra writable directory, for one
    command: a repository in a `writable` path runs its hooks on the host just the same."""

    states: list[GitState]

    def bwrap_args(self) -> list[str]:
        return [arg for state in self.states for arg in state.bwrap_args()]

    def after(self) -> list[str]:
        return [note for state in self.states for note in after(state)]


def guard(workspace: Path, extra: list[Path] | tuple[Path, ...] = ()) -> GitGuard:
    """Protect ``workspace`` and the directories in ``extra`` (those outside it) for one command;
    what is found in an extra directory is quarantined under the workspace."""
    states = [before(workspace)]
    for root in dict.fromkeys(extra):
        if root.is_dir() and not any(
            root == s.workspace or s.workspace in root.parents for s in states
        ):
            states.append(before(root, quarantine_to=workspace))
    return GitGuard(states)


def before(workspace: Path, quarantine_to: Path | None = None) -> GitState:
    """The state to protect for one command in ``workspace``."""
    entries = find_git_entries(workspace)
    state = GitState(workspace, entries, targets=targets_of(entries), quarantine_to=quarantine_to)
    for path in entries:
        if path.is_symlink():
            try:
                state.links[path] = os.readlink(path)
            except OSError:
                pass
    top = workspace / ".git"
    with _placeholder_lock:
        # bwrap makes the mount point on the host: only where it can. An empty `.git` that a
        # running sandbox of this process holds as its placeholder is one still.
        held = _placeholders.get(workspace, 0) > 0 and _is_empty_dir(top)
        state.placeholder = held or (not os.path.lexists(top) and os.access(workspace, os.W_OK))
        if state.placeholder:
            state.entries.pop(top, None)
            _placeholders[workspace] = _placeholders.get(workspace, 0) + 1
    return state


def hold_placeholder(workspace: Path) -> None:
    """A session sandbox keeps ``workspace/.git`` mounted as a placeholder until it ends:
    the mount point stays on the host while any holder of it runs."""
    with _placeholder_lock:
        _placeholders[workspace] = _placeholders.get(workspace, 0) + 1


def release_placeholder(workspace: Path) -> None:
    """The last holder removes the (empty) mount point bwrap made on the host."""
    with _placeholder_lock:
        left = _placeholders.get(workspace, 1) - 1
        if left > 0:
            _placeholders[workspace] = left
            return
        _placeholders.pop(workspace, None)
        try:
            os.rmdir(workspace / ".git")
        except OSError:
            pass


def release_states(guard: GitGuard) -> None:
    """The end of a guard no command ran under (a session sandbox started early): its
    placeholders are let go; nothing is scanned, so nothing the user did is quarantined."""
    for state in guard.states:
        if state.placeholder:
            release_placeholder(state.workspace)


def after(state: GitState) -> list[str]:
    """Undo what a finished command did to git metadata; one note per thing done."""
    root = state.workspace / ".git"
    if state.placeholder:
        release_placeholder(state.workspace)
    notes: list[str] = []
    for path, ident in find_git_entries(state.workspace).items():
        if state.entries.get(path) == ident:
            continue
        if path not in state.entries and not _changed_since(path, state.started):
            continue  # older than the command: past the scan's bound before, not its doing
        if path == root and _is_empty_dir(path):
            continue  # another command's placeholder, still mounted (an empty dir is no repo)
        notes.append(_quarantine(state.workspace, path, state.quarantine_to))
    for path, target in state.links.items():  # a symlinked .git the command removed: put back
        if not os.path.lexists(path):
            try:
                os.symlink(target, path)
            except OSError:
                pass
    return notes


def _changed_since(path: Path, when: float) -> bool:
    try:
        return os.lstat(path).st_ctime >= when - 1.0  # coarse timestamps on some filesystems
    except OSError:
        return False


def _is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and not any(os.scandir(path))
    except OSError:
        return False


def _quarantine(root: Path, path: Path, into: Path | None = None) -> str:
    """Move `path` (found under `root`) to `into`'s quarantine (default: root's)."""
    into = into or root
    rel = path.relative_to(root)
    rel_shown = rel if into == root else path  # outside the workspace: the whole path
    if into != root:
        rel = Path(root.name) / rel
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_counter)}"
    # not named .git there, so no git ever takes it for a repository
    dest = into / QUARANTINE / name / rel.parent / "dot-git"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, dest)
        except OSError as exc:  # an extra writable directory on another filesystem: copy
            if exc.errno != errno.EXDEV:
                raise
            shutil.move(str(path), str(dest))
        return (
            f"claw: moved git metadata the command created ({rel_shown}) to "
            f"{dest.relative_to(into)}: git metadata cannot be changed from the sandbox"
        )
    except OSError:
        pass
    try:  # another filesystem (an extra writable path): remove it
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return (
            f"claw: removed git metadata the command created ({rel_shown}): git metadata cannot "
            "be changed from the sandbox"
        )
    except OSError as exc:
        return (
            f"claw: WARNING: could not remove git metadata the command created ({rel_shown}): {exc}"
        )
