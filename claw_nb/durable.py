"""Durability off the agent's critical path: files already written are fsynced in the background.

An edit is written atomically (a temporary file renamed over the target), so every process sees
the old or the new file whole. Making it durable against power loss as well (fsync of the file,
then of its folder) cost ~3.5 ms an edit on an idle ext4 disk and 10-15 ms on a busy one, and
the model waited for it. Now the writer hands the open descriptors to :func:`sync_later`; one
worker thread fsyncs and closes them, in order. :func:`wait` blocks until all are done: the
``claw-nb`` process calls it before it leaves (it skips interpreter teardown), and any other
interpreter waits for the worker at exit, as it is not a daemon thread. What a power loss can
cost is the edits of the last moment, as with any editor that does not fsync (docs/performance.md).

Standard library only.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("claw_nb")

_lock = threading.Lock()
_done = threading.Condition(_lock)
_pending: list[tuple[int, int | None]] = []  # (file descriptor, its folder's descriptor)
_worker: threading.Thread | None = None


def sync_later(fd: int, dir_fd: int | None = None) -> None:
    """Take over ``fd`` (and ``dir_fd``, its folder's): fsync them in the background, then
    close them. The caller must not use or close them any more."""
    global _worker
    with _lock:
        _pending.append((fd, dir_fd))
        if _worker is None:
            _worker = threading.Thread(target=_drain, name="claw-fsync")  # not a daemon
            _worker.start()


def wait(timeout: float | None = None) -> bool:
    """Block until every descriptor handed over is synced and closed; False on timeout."""
    with _done:
        return _done.wait_for(lambda: _worker is None, timeout)


def pending() -> int:
    """Descriptors handed over and not synced yet."""
    with _lock:
        return len(_pending) + (1 if _worker is not None else 0)


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
        folders: dict[tuple[int, int], None] = {}
        for fd, dir_fd in batch:
            _sync_and_close(fd)
            if dir_fd is not None:
                try:  # one fsync per folder a batch renamed into
                    st = os.fstat(dir_fd)
                    key = (st.st_dev, st.st_ino)
                    if key in folders:
                        os.close(dir_fd)
                        continue
                    folders[key] = None
                except OSError:
                    pass
                _sync_and_close(dir_fd)


def _sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
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
