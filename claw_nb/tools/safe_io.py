"""File access that a symlink swapped mid-way cannot redirect, and that never blocks.

The confinement check (`resolve_in_workspace`) follows symlinks once; a command running at the
same time could then swap a directory for a link before the write. So every open here walks the
already-resolved path one component at a time from a descriptor of the workspace, with
`O_NOFOLLOW` at each step: if anything on the way became a link since the check, the walk fails
instead of landing outside. Reads open with `O_NONBLOCK` and refuse anything but a regular file,
so a FIFO or a device cannot hang a tool.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from claw_nb import durable
from claw_nb.sandbox.server_channel import current_umask
from claw_nb.tools.base import ToolError
from claw_nb.untrusted import UntrustedPathRefused, open_regular_beneath, parent_beneath


@contextlib.contextmanager
def _directory(workspace: Path, resolved: Path, create: bool) -> Iterator[tuple[int, str]]:
    """(descriptor of the file's directory, file name), reached without following links."""
    try:
        with parent_beneath(workspace, resolved, create=create) as found:
            yield found
    except NotADirectoryError as exc:
        raise ToolError(
            f"cannot write {resolved.name!r}: its parent {exc.filename!r} exists as a file; "
            "choose another path"
        ) from None
    except UntrustedPathRefused as exc:
        raise ToolError(f"{exc}; try again") from None


def open_regular(workspace: Path, resolved: Path, shown: str) -> int:
    """A read-only descriptor of a regular file (the caller closes it); anything else refused."""
    try:
        return open_regular_beneath(workspace, resolved)
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, "no such file", shown) from None
    except UntrustedPathRefused as exc:
        raise ToolError(str(exc).replace(str(resolved), repr(shown))) from None


def read_prefix(workspace: Path, resolved: Path, shown: str, max_bytes: int) -> tuple[bytes, int]:
    """(at most `max_bytes` of the file, its size): never more in memory than asked for."""
    fd = open_regular(workspace, resolved, shown)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return f.read(max_bytes), size


def write_atomic(
    workspace: Path, resolved: Path, data: bytes, *, expected: bytes | None = None
) -> bool:
    """Write `data` to `resolved` (inside the workspace) atomically; True if it was created.

    A temporary file is made next to the target through the same descriptor walk, filled,
    given the old file's mode, and renamed over the target relative to the directory
    descriptor, so neither a swapped directory nor a link at the target can redirect it.
    With `expected`, the file must still hold exactly those bytes just before the rename (a
    save by someone else in the meantime is refused, not overwritten). The file and its
    folder are fsynced when the run ends (`claw_nb.durable`): every process sees the old or
    the new file whole at once; a power loss during the run may cost its edits.
    """
    with _directory(workspace, resolved, create=True) as (dir_fd, name):
        try:
            old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise ToolError(f"{name!r} is a directory; give a file path")
        mode = (
            stat.S_IMODE(old.st_mode)
            if old is not None and stat.S_ISREG(old.st_mode)
            else 0o666 & ~current_umask()
        )
        tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
            if expected is not None and _current(dir_fd, name) != expected:
                raise ToolError(
                    f"{name!r} changed on disk while it was being edited (saved "
                    "elsewhere?); nothing was written: read it again and redo the edit"
                )
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        durable.sync_later(fd, _dup(dir_fd))  # both synced and closed when the run ends
    return old is None


def _dup(fd: int) -> int | None:
    try:
        return os.dup(fd)
    except OSError:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _current(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read()
