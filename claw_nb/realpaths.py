"""`os.path.realpath`, answered by the kernel when it can: what every path check here resolves.

The workspace confinement, the untrusted reads, the protected paths and the sandbox's plan
resolve paths at the moment of use, ~15-20 of them a step. `os.path.realpath` walks a path in
Python, one `lstat` per component (~40-60 us a path, three times that on a loaded machine);
opening the path with ``O_PATH`` and reading the descriptor's link back asks the kernel for
the same answer in three system calls, resolved in one go. A path that does not exist (or a
dangling link) has no descriptor: it gets the walk, which follows links as far as they go.

Standard library only.
"""

from __future__ import annotations

import os

_DELETED = " (deleted)"


def realpath(path: str | os.PathLike[str]) -> str:
    """``os.path.realpath(path)`` (the same answer; tests/test_realpaths.py compares them)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):  # no such path, a dangling link, a loop, a NUL byte...
        return os.path.realpath(path)
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc
        real = ""
    finally:
        os.close(fd)
    if not real.startswith("/") or real.endswith(_DELETED):
        return os.path.realpath(path)  # not a path (a pseudo file), or removed meanwhile
    return real
