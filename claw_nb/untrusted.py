"""Reading a file that the agent, a cloned repository or a task author could have written.

The host process (not the sandbox) reads such files: project memory, prompt files, settings,
ignore files, notebooks, task folders, verifier results. A sandboxed `ln -s /proc/self/environ
CLAW.md` must not turn that read into a leak of the host's environment. So every such read goes
through `read_untrusted`: the path is resolved once, must stay inside the directory it belongs
to (the workspace, the task's folder) and outside the paths the sandbox hides, and is then opened
by walking the resolved path one component at a time with `O_NOFOLLOW` from a descriptor of that
directory, so a link swapped in after the check cannot redirect it. Only regular files are read
(`O_NONBLOCK`, so a FIFO cannot hang the host), and never more than `max_bytes`.

tests/test_untrusted_reads.py fails when a module reads workspace content another way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from claw_nb.errors import ClawError
from claw_nb.realpaths import realpath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


class UntrustedPathRefused(ClawError, PermissionError):
    """An untrusted file leads outside its directory, into a hidden path, or is not a file."""


def _within(path: Path | str, root: Path | str) -> bool:
    """By string (both are absolute and normalised): `root in path.parents` makes a `Path` per
    parent, ~50 us a check, and a read checks every hidden path (hundreds)."""
    p, r = str(path), str(root)
    return p == r or p.startswith(r if r.endswith("/") else r + "/")


def confined_path(
    root: Path | str, relative: str | os.PathLike[str], *, hidden: Iterable[Path] | None = None
) -> Path:
    """`root/relative` with links resolved, refused unless it stays inside `root` and outside
    every hidden path (the sandbox's secrets and claw_nb's logs, unless `hidden` says otherwise).
    """
    resolved = _resolved_inside(root, relative)[1]
    _refuse_hidden(resolved, relative, hidden)
    return Path(resolved)


def _resolved_inside(root: Path | str, relative: str | os.PathLike[str]) -> tuple[str, str]:
    """(`root` resolved, `root/relative` with links resolved); refused unless the second stays
    inside the first. On strings: a read makes no `Path` (eight of them were ~60% of a read)."""
    base = realpath(root)
    given = os.fspath(relative)
    if os.path.isabs(given):
        raise UntrustedPathRefused(f"{given!r} is absolute; only relative paths are read")
    lexical = os.path.normpath(os.path.join(base, given))
    if not _within(lexical, base):
        raise UntrustedPathRefused(f"{given!r} leaves {base}")
    resolved = realpath(lexical)
    if not _within(resolved, base) or any(_within(resolved, r) for r in _FORBIDDEN_ROOTS):
        raise UntrustedPathRefused(f"{given!r} is a link to {resolved}, outside {base}; not read")
    return base, resolved


def _refuse_hidden(
    resolved: Path | str, relative: str | os.PathLike[str], hidden: Iterable[Path] | None
) -> None:
    for secret in secret_paths() if hidden is None else hidden:
        if _within(resolved, secret):
            raise UntrustedPathRefused(f"{str(relative)!r} leads into the hidden path {secret}")


def secret_paths() -> list[Path]:
    """The host paths the sandbox hides (keys, histories, claw_nb's own logs and journals)."""
    from claw_nb.sandbox.exposure import secret_paths as sandbox_secrets

    return sandbox_secrets()


@contextlib.contextmanager
def parent_beneath(
    root: Path | str, resolved: Path | str, *, create: bool = False, base: str | None = None
) -> Iterator[tuple[int, str]]:
    """(descriptor of `resolved`'s directory, its name), reached from `root` without following
    a link at any step; `create` makes missing directories on the way. `base`: `root` already
    resolved, by a caller that just did."""
    base = realpath(root) if base is None else base
    target = str(resolved)
    if not _within(target, base) or target == base:
        if target == base:
            raise UntrustedPathRefused(f"{base} is a directory, not a file")
        raise UntrustedPathRefused(f"{target} is outside {base}")
    parts = target[len(base) :].strip("/").split("/")
    fd = os.open(base, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            try:
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o777, dir_fd=fd)
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, f"{name!r} is a file", name) from None
                raise UntrustedPathRefused(
                    f"{target}: a part of the path became a symlink while it was opened"
                ) from None
            os.close(fd)
            fd = next_fd
        yield fd, parts[-1]
    finally:
        os.close(fd)


def open_regular_beneath(root: Path | str, resolved: Path | str, *, base: str | None = None) -> int:
    """A blocking read-only descriptor of the regular file `resolved`, opened without following
    links from `root`; a FIFO, device, socket or directory is refused (the caller closes it).
    `base`: `root` already resolved, by a caller that just did."""
    with parent_beneath(root, resolved, base=base) as (dir_fd, name):
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UntrustedPathRefused(
                    f"{resolved} became a symlink while it was opened"
                ) from None
            raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UntrustedPathRefused(f"{resolved} is {file_kind(mode)}; only regular files are read")
    os.set_blocking(fd, True)
    return fd


def file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_untrusted(
    root: Path | str,
    relative: str | os.PathLike[str],
    *,
    max_bytes: int,
    hidden: Iterable[Path] | None = None,
) -> bytes | None:
    """At most `max_bytes` of `root/relative`, or None when there is no such file.

    Raises `UntrustedPathRefused` for a link out of `root` or into a hidden path, a special
    file, or a link swapped in while it was opened.
    """
    base, resolved = _resolved_inside(root, relative)
    # Nothing there (the usual answer for memory and settings files): no need to work out the
    # hidden paths, a scan of every log database the user has (~10 ms a file with ~90 of them).
    if not os.path.lexists(resolved):
        return None
    _refuse_hidden(resolved, relative, hidden)
    try:
        fd = open_regular_beneath(root, resolved, base=base)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(max_bytes)


def read_untrusted_text(
    root: Path | str,
    relative: str | os.PathLike[str],
    *,
    max_bytes: int,
    hidden: Iterable[Path] | None = None,
) -> str | None:
    """`read_untrusted`, decoded as UTF-8 with replacement characters."""
    data = read_untrusted(root, relative, max_bytes=max_bytes, hidden=hidden)
    return None if data is None else data.decode("utf-8", errors="replace")


def is_link_out(root: Path | str, relative: str | os.PathLike[str]) -> bool:
    """True when `root/relative` is a link that resolves outside `root` (or into /proc)."""
    try:
        confined_path(root, relative, hidden=())
    except UntrustedPathRefused:
        return True
    return False


def read_regular_file(path: Path | str, *, max_bytes: int) -> bytes | None:
    """At most `max_bytes` of `path` when it is a regular file and not itself a link (its
    folders may be: for metadata such as a gitfile, whose target is checked by the caller);
    None otherwise. Non-blocking open: a FIFO swapped in cannot hang the host."""
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        return f.read(max_bytes)


def walk_untrusted(root: Path | str, *, max_entries: int = 20_000) -> list[tuple[str, str]]:
    """Every entry under `root` as (relative POSIX path, kind), kind one of ``file``, ``dir``,
    ``link``, ``other``; links are listed, never followed, and no directory is entered
    through one. Raises `UntrustedPathRefused` past `max_entries` (an agent can make millions
    of files; the host should not spend its time listing them)."""
    out: list[tuple[str, str]] = []
    fd = os.open(realpath(root), _DIR_FLAGS)
    try:
        _walk(fd, "", out, max_entries)
    finally:
        os.close(fd)
    return out


def _walk(fd: int, prefix: str, out: list[tuple[str, str]], limit: int) -> None:
    with os.scandir(fd) as entries:
        items = sorted((e.name, _kind(e)) for e in entries)
    for name, kind in items:
        if len(out) >= limit:
            raise UntrustedPathRefused(f"more than {limit} entries; not listed further")
        rel = f"{prefix}{name}"
        out.append((rel, kind))
        if kind == "dir":
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link meanwhile
                    continue
                raise
            try:
                _walk(sub, rel + "/", out, limit)
            finally:
                os.close(sub)


def _kind(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


def copy_untrusted_tree(
    root: Path | str, dest: Path | str, *, max_bytes: int = 64 * 1024 * 1024
) -> None:
    """Copy the directory `root` into `dest` (made if missing) without following a link:
    regular files by content and permission bits, directories recursively, and links as links
    when they resolve inside `root` (rewritten relative, so the copy points into itself).

    Raises `UntrustedPathRefused` for a link leading out of `root` or a FIFO, socket or device
    (before `dest` is touched), and for a file larger than `max_bytes`.
    """
    base = Path(realpath(root))
    entries = walk_untrusted(base)
    links: dict[str, str] = {}
    for rel, kind in entries:
        if kind == "other":
            mode = os.lstat(base / rel).st_mode
            raise UntrustedPathRefused(f"{rel} is {file_kind(mode)}; only files and links copy")
        if kind == "link":
            target = confined_path(base, rel, hidden=())  # raises for a link out of root
            links[rel] = os.path.relpath(target, (base / rel).parent)
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for rel, kind in entries:
        if kind == "dir":
            (out / rel).mkdir(exist_ok=True)
        elif kind == "link":
            os.symlink(links[rel], out / rel)
        else:
            fd = open_regular_beneath(base, base / rel)
            with os.fdopen(fd, "rb") as f:
                data = f.read(max_bytes + 1)
                mode = os.fstat(f.fileno()).st_mode & 0o777
            if len(data) > max_bytes:
                raise UntrustedPathRefused(f"{rel} is larger than {max_bytes} bytes; not copied")
            (out / rel).write_bytes(data)
            os.chmod(out / rel, mode | 0o600)
