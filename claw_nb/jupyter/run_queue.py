"""A background worker that runs agent tasks one at a time, in the order they were submitted.

In a notebook with a widget front end the `%%claw` cell hands its run to this worker and returns
at once: the kernel goes idle, so it can process the widget messages (Approve, Stop) while the
agent works. Runs queue: a second `%%claw` cell waits until the first one is done.

The thread is a daemon thread of its own (not a ThreadPoolExecutor, whose threads the
interpreter joins at exit: a run waiting for an approval nobody gives would stop the kernel from
shutting down).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class RunQueue:
    """Runs submitted callables on one daemon thread, first in first out."""

    def __init__(self, name: str = "claw-agent") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._pending: deque[tuple[Future, Callable[[], Any]]] = deque()
        self._running: Future | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Queue `fn`; its Future gives its result. `future.cancel()` works until it starts."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the run queue is closed")
            self._pending.append((future, fn))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return future

    def ahead_of(self, future: Future) -> int:
        """How many runs will go before `future` (the running one included)."""
        with self._cond:
            ahead = 1 if self._running is not None and self._running is not future else 0
            for queued, _ in self._pending:
                if queued is future:
                    return ahead
                if not queued.cancelled():
                    ahead += 1
            return 0

    @property
    def busy(self) -> bool:
        """True while a run is going or waiting."""
        with self._cond:
            return self._running is not None or any(not f.cancelled() for f, _ in self._pending)

    def cancel_pending(self) -> int:
        """Cancel every run that has not started; returns how many were cancelled."""
        with self._cond:
            count = sum(1 for future, _ in self._pending if future.cancel())
            self._pending.clear()
            return count

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits (for tests and scripts, not notebook cells)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.busy, timeout)

    def close(self) -> None:
        """Cancel what waits; the thread ends after the run in progress (if any)."""
        with self._cond:
            self._closed = True
            for future, _ in self._pending:
                future.cancel()
            self._pending.clear()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    self._thread = None
                    return
                future, fn = self._pending.popleft()
                if not future.set_running_or_notify_cancel():
                    self._cond.notify_all()
                    continue
                self._running = future
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - goes to the Future; the thread lives on
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()
