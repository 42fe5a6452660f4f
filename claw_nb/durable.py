"""Durability off the agent's critical path: written files are fsynced together, at the end.

An edit is written atomically (a temporary file renamed over the target), so every process sees
the old or the new file whole. Making it durable against power loss as well (fsync of the file,
then of its folder) cost ~3.5 ms an edit on an idle ext4 disk and 10-15 ms on a busy one, and
the model waited for it; fsyncing in a background thread right after each edit still slowed
the next steps (an fsync forces ext4's journal commit, which the next step's file operations
then wait for). So a writer hands its open descriptors to :func:`sync_later`, which keeps them;
:func:`flush` has one worker thread fsync and close them all (each file and folder once). The
log flushes when a run ends (with its journal, `claw_nb.log.journal`), and so does this module
when more than ``MAX_PENDING`` wait. :func:`wait` flushes and blocks until all are on disk: the
``claw-nb`` process calls it before it leaves (it skips interpreter teardown), any other
interpreter at exit. What a power loss can cost is the current run's edits, as with an editor
that does not fsync (docs/performance.md).

Standard library only.
"""

from __future__ import annotations

import atexit
import os
import stat
import threading
import time

from claw_nb.lazy_logger import get_logger

logger = get_logger("claw_nb")

MAX_PENDING = 64  # descriptors kept open before a flush starts on its own

_lock = threading.Lock()
_done = threading.Condition(_lock)
_pending: list[tuple[int, int | None]] = []  # (file descriptor, its folder's descriptor)
_worker: threading.Thread | None = None


def sync_later(fd: int, dir_fd: int | None = None) -> None:
    """Take over ``fd`` (and ``dir_fd``, its folder's): they are fsynced and closed at the
    next :func:`flush`. The caller must not use or close them any more."""
    with _lock:
        _pending.append((fd, dir_fd))
        if len(_pending) > MAX_PENDING:
            _start_worker()


def flush() -> None:
    """Start syncing what waits, in the background (a run ended: its edits and journal)."""
    with _lock:
        if _pending:
            _start_worker()


def wait(timeout: float | None = None) -> bool:
    """Flush, and block until every descriptor handed over is synced and closed; False on
    timeout."""
    end = None if timeout is None else time.monotonic() + timeout
    with _done:
        while True:
            if _pending:
                _start_worker()  # also what was handed over after the last batch began
            if _worker is None:
                return True
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            _done.wait(left)


def pending() -> int:
    """Writes handed over (a file, with its folder) not synced yet; a batch being synced
    counts as one."""
    with _lock:
        return len(_pending) + (1 if _worker is not None else 0)


def _start_worker() -> None:
    global _worker
    if _worker is None:  # with _lock held
        _worker = threading.Thread(target=_drain, name="claw-fsync", daemon=True)
        _worker.start()


def _drain() -> None:
    global _worker
    while True:
        with _lock:
            if not _pending:
                _worker = None
                _done.notify_all()
                return
            batch = list(_pending)
            _pending.clear()
        synced: set[tuple[int, int]] = set()  # each file and folder once (an edited file is
        for fd, dir_fd in batch:  # often renamed over again: its newest copy is synced)
            _sync_and_close(fd, synced)
            if dir_fd is not None:
                _sync_and_close(dir_fd, synced)


def _sync_and_close(fd: int, synced: set[tuple[int, int]]) -> None:
    try:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if key not in synced and (st.st_nlink or stat.S_ISDIR(st.st_mode)):
            synced.add(key)
            os.fsync(fd)  # a file removed or replaced since (no link left) needs none
    except OSError as exc:
        logger.warning("claw_nb: a written file could not be flushed to disk: %s", exc)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def _forget_in_child() -> None:
    """A forked child has no worker thread: its copies of the descriptors are closed unsynced
    (the parent syncs the files)."""
    global _lock, _done, _worker
    for fd, dir_fd in _pending:
        for d in (fd, dir_fd):
            if d is not None:
                try:
                    os.close(d)
                except OSError:
                    pass
    _pending.clear()
    _lock = threading.Lock()
    _done = threading.Condition(_lock)
    _worker = None


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(wait)  # an interpreter that ends normally leaves with its files on disk
