"""One way to stop: a token passed down from the shell to everything that can take a while.

A shell (a Stop button, Ctrl-C, a kernel interrupt) stops a token; the agent loop, the lab runner, its
executors, each trial and the optimizers look at the same token, or a child of it. A child stops
when its parent does and can also stop alone (one trial, one run), so stopping one trial never
stops the others. Callbacks run once on stop: they interrupt what cannot poll (a DuckDB query,
a model request, a Ray task).
"""

from __future__ import annotations

import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from claw_nb.errors import ClawError


class Stopped(ClawError):
    """Raised by `StopToken.raise_if_stopped`: the work was asked to stop."""


class StopToken:
    """A stop request that flows down: stop the parent and every child stops."""

    def __init__(self, parent: StopToken | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._children: weakref.WeakSet[StopToken] = weakref.WeakSet()  # a finished child goes
        self.reason: str | None = None
        self._parent = parent
        if parent is not None:
            parent._adopt(self)

    # -- asking ---------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped by the user") -> None:
        """Ask everything holding this token (or a child of it) to stop; runs callbacks once."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
            children = list(self._children)
        for child in children:
            child.stop(reason)
        for callback in callbacks:
            _call_quietly(callback)

    def clear(self) -> None:
        """Take back this token's own request (a run ended); a stopped parent still counts."""
        with self._lock:
            self._event.clear()
            self.reason = None

    # -- looking --------------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.stopped)

    def __call__(self) -> bool:
        """`should_stop` for code that takes a callable (the model's request loop)."""
        return self.stopped

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (or `timeout` seconds); True when stopped."""
        if self.stopped:
            return True
        done = threading.Event()
        remove = self.on_stop(done.set)
        try:
            return done.wait(timeout) or self.stopped
        finally:
            remove()

    def raise_if_stopped(self) -> None:
        if self.stopped:
            raise Stopped(self.reason or (self._parent and self._parent.reason) or "stopped")

    def child(self) -> StopToken:
        """A token that stops with this one and can be stopped alone."""
        return StopToken(self)

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when this token (or an ancestor) stops; at once if already stopped.

        Returns a function that unregisters it (call it when the guarded work is done)."""
        with self._lock:
            pending = not self._event.is_set()
            if pending:
                self._callbacks.append(callback)
        if not pending or (self._parent is not None and self._parent.stopped):
            self._discard(callback)
            _call_quietly(callback)
            return lambda: None
        return lambda: self._discard(callback)

    # -- internals ------------------------------------------------------------------------------

    def _adopt(self, child: StopToken) -> None:
        with self._lock:
            self._children.add(child)
            stopped = self._event.is_set()
        if stopped or self.stopped:
            child.stop(self.reason or "stopped")

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


CTRL_C = "interrupted (Ctrl-C)"


@contextmanager
def sigint_stops(token: StopToken) -> Iterator[StopToken]:
    """While the body runs, Ctrl-C (SIGINT: a terminal's, or a kernel's interrupt) stops
    `token` instead of raising, so the work under it ends at its next safe point and records
    what it finished. A second Ctrl-C raises KeyboardInterrupt as usual, for work that does not
    stop. The shells wrap each long command in it; off the main thread (which alone receives
    signals) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def on_sigint(signum: int, frame: object) -> None:
        if token.stopped:
            raise KeyboardInterrupt
        # Not here: a handler runs between two bytecodes of the main thread, which may hold
        # this token's lock or be inside a callback; the stop runs beside it instead.
        threading.Thread(target=token.stop, args=(CTRL_C,), name="claw-sigint", daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield token
    finally:
        signal.signal(
            signal.SIGINT, previous if previous is not None else signal.default_int_handler
        )


def _call_quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # noqa: BLE001, S110 - a failing interrupter must not stop the others
        pass
