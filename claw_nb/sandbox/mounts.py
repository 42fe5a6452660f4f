"""What a bubblewrap sandbox shows of the machine: its mount options, worked out from resolved
paths at the moment of use, and the :class:`MountPlan` a session sandbox compares them by."""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from claw_nb.realpaths import realpath
from claw_nb.records import record
from claw_nb.sandbox.exposure import (
    RUN_KEEP,
    DatabaseMasks,
    expand_entry,
    interpreter_dirs,
    is_within,
    secret_path_strings,
)
from claw_nb.sandbox.gitguard import GitGuard
from claw_nb.sandbox.settings import SandboxSettings

PRIVATE_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")  # a tmpfs of the sandbox's own each


def mount_args(
    settings: SandboxSettings,
    workspace: Path,
    git: GitGuard,
    databases: DatabaseMasks | None = None,
) -> list[str]:
    """bubblewrap's mount options: the host read-only, the workspace (and `writable` paths)
    writable, ``git``'s metadata and the `read_only` paths read-only, secrets and log
    databases masked, private ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``, ``/dev``
    read-only. ``databases``: the runner's cache of its log databases (default: all resolved
    now)."""
    s = settings
    a = ["--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc"]
    private = [Path("/tmp")]
    a += ["--tmpfs", "/tmp"]
    for d in ("/var/tmp", "/run"):
        if os.path.isdir(d) and not os.path.islink(d):
            a += ["--tmpfs", d]
            private.append(Path(d))
    # the interpreter (and its venv) under a private dir stays visible, read-only: otherwise
    # `python` inside is missing or another one
    for p in interpreter_dirs():
        if any(is_within(p, d) and p != d for d in private):
            a += ["--ro-bind", str(p), str(p)]
    for keep in RUN_KEEP:
        if os.path.isdir(keep):
            a += ["--ro-bind", keep, keep]
    for dev in s.devices:
        for p in glob.glob(dev):
            a += ["--dev-bind", p, p]
    binds = ["--bind", str(workspace), str(workspace)]
    for entry in s.writable:
        for p in expand_entry(entry, workspace):
            binds += ["--bind", str(p), str(p)]
    binds += git.bwrap_args()
    for entry in s.read_only:
        for p in expand_entry(entry, workspace):
            if is_within(p, workspace) and p != workspace:
                binds += ["--ro-bind", str(p), str(p)]
    visible = _visibility(private, _bind_targets([*a, *binds]))
    databases = databases if databases is not None else DatabaseMasks()
    found = [*_masks(s, workspace), *databases.paths(workspace, visible)]
    masks = [Path(m) for m in dict.fromkeys(found) if visible(m)]
    # a mask that contains the workspace goes first, so the workspace is bound back over it
    a += [x for m in masks if is_within(workspace, m) for x in _mask_args(m)]
    a += binds
    # after the read-only binds: a log database inside `.claw/` stays hidden under them
    a += [x for m in masks if not is_within(workspace, m) for x in _mask_args(m)]
    # last, once every device is bound: nothing a command writes under /dev outlives it
    a += ["--remount-ro", "/dev"]
    return a


def private_dirs(args: Sequence[str]) -> list[str]:
    """The sandbox's own tmpfs folders in ``args`` that commands may fill (a session sandbox
    empties them after each command)."""
    out = [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]
    return [d for d in out if d in PRIVATE_DIRS]


def _masks(settings: SandboxSettings, workspace: Path) -> list[str]:
    """What to hide but the log databases: secrets, journals, `hide`."""
    entries = secret_path_strings(workspace, databases=False)
    for entry in settings.hide:
        entries += [str(p) for p in expand_entry(entry, workspace)]
    return [p for p in entries if p != "/"]


def _mask_args(path: Path) -> list[str]:
    """An empty folder or file over ``path``; nothing for a path gone since it was found."""
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return []
    if is_dir:
        return ["--tmpfs", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]


_BIND_OPTIONS = frozenset({"--bind", "--ro-bind", "--dev-bind"})


def _bind_targets(args: list[str]) -> list[Path]:
    """Where the options ``args`` mount a host path (the root bind aside)."""
    out, i = [], 0
    while i < len(args):
        if args[i] in _BIND_OPTIONS:
            if args[i + 2] != "/":
                out.append(Path(args[i + 2]))
            i += 3
        else:
            i += 1  # every other token is an option or an absolute path, never a bind option
    return out


def _visibility(private: list[Path], bound: list[Path]) -> Callable[[str], bool]:
    """Whether a command would see a host path: not if it lies in a private tmpfs (``/tmp``,
    ...) unless a bind brings it back. A mask for what it would not see is a mount for
    nothing: a user who had logged into ~80 databases under /tmp paid ~0.2 s a command for
    them. On strings: a session sandbox asks before every command."""
    private_dirs = tuple(str(d).rstrip("/") + "/" for d in private if realpath(d) == str(d))
    # only a bind inside a private dir brings back what it hides
    bound_dirs = tuple(
        str(b).rstrip("/") + "/" for b in bound if (str(b) + "/").startswith(private_dirs)
    )

    def visible(path: str) -> bool:
        inside = path + "/"  # `path` is `d` or below it: `inside` starts with `d/`
        return not inside.startswith(private_dirs) or inside.startswith(bound_dirs)

    visible.key = (private_dirs, bound_dirs)  # type: ignore[attr-defined]  # same answers
    return visible


Identity = tuple[int, int, int] | None  # (st_dev, st_ino, file type), None: no such path


def identity(path: str) -> Identity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)


@record(frozen=True)
class MountPlan:
    """What a sandbox was built from: bubblewrap's mount options, and what each path named
    in them was (device, inode, type). Two plans are equal only if a sandbox built from one
    shows exactly what a sandbox built from the other would. ``placeholders``: the empty
    ``.git`` mount points the sandbox makes itself (their identity is known once it runs)."""

    args: tuple[str, ...]
    identities: tuple[tuple[str, Identity], ...]
    placeholders: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: Sequence[str], placeholders: Sequence[str] = ()) -> MountPlan:
        skip = set(placeholders)
        paths = dict.fromkeys(a for a in args if a.startswith("/") and a not in skip)
        return cls(tuple(args), tuple((p, identity(p)) for p in paths), tuple(placeholders))
