"""A library's blocking request that a stop can end: for the LiteLLM path, whose sockets
(httpx's, the OpenAI SDK's) are its own.

The call runs on a helper thread; the caller waits for it or for the stop, whichever comes
first, so a stop returns at once even while the server has sent nothing. A stop also shuts the
socket the call is blocked on, so the server sees the client leave and stops working on the
request (llama.cpp, Ollama): the socket is found in the frames of the threads doing the call
(the helper, and the caller while it reads a stream), below the point where the call began,
as a local variable or an attribute of one (httpcore's stream holds it as `_sock`). Nothing is
looked at until a stop, so calls cost nothing extra; a library that keeps its socket further
away leaves the abandoned request to end when the server answers.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

MAX_FRAMES = 64  # how deep below the call's start a socket is looked for


class AbandonableCalls:
    """Runs one call at a time on a helper thread; `abort()` (any thread) ends the wait and
    shuts the sockets the call is reading."""

    def __init__(self, name: str = "claw-model-call") -> None:
        self.name = name
        self._abort = threading.Event()
        self._waiter: threading.Event | None = None  # the wait of the call in progress
        self._watched: dict[int, FrameType] = {}  # thread id -> the frame the call began in
        self._lock = threading.Lock()

    def reset(self) -> None:
        """A new call starts: an earlier call's abort no longer counts."""
        self._abort.clear()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def abort(self) -> None:
        """End the wait of the call in progress and shut its connections (a stop)."""
        self._abort.set()
        waiter = self._waiter
        if waiter is not None:
            waiter.set()
        for sock in self._sockets_in_use():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def watching(self) -> _Watching:
        """`with calls.watching():` around code of this thread (reading a stream) whose
        socket a stop may shut."""
        return _Watching(self)

    def run(self, fn: Callable[[], Any], *, on_abandon: Callable[[Any], None] | None = None) -> Any:
        """`fn()`'s result, or `Abandoned` once `abort()` came first. A result that arrives
        after the abandon goes to `on_abandon` (close a stream nobody will read)."""
        if self.aborted:
            raise Abandoned()
        done = threading.Event()
        lock = threading.Lock()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                with self.watching():
                    result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            else:
                with lock:
                    if box.get("abandoned") and on_abandon is not None:
                        _quietly(on_abandon, result)
                    box["result"] = result
            finally:
                done.set()

        self._waiter = done
        if self.aborted:  # abort() came before the waiter was set
            self._waiter = None
            raise Abandoned()
        threading.Thread(target=work, name=self.name, daemon=True).start()
        try:
            done.wait()
        finally:
            self._waiter = None
        with lock:
            if "result" not in box and "error" not in box:
                box["abandoned"] = True
                raise Abandoned()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _sockets_in_use(self) -> list[socket.socket]:
        """Open sockets held in the frames of the watched threads, below where they began."""
        with self._lock:
            watched = dict(self._watched)
        if not watched:
            return []
        frames = sys._current_frames()
        found: dict[int, socket.socket] = {}
        for ident, base in watched.items():
            frame = frames.get(ident)
            for _ in range(MAX_FRAMES):
                if frame is None or frame is base:
                    break
                for sock in _sockets_of(frame):
                    found[id(sock)] = sock
                frame = frame.f_back
        return list(found.values())


class _Watching:
    """Marks the current thread's frames from here down as the call's (see `watching`)."""

    def __init__(self, calls: AbandonableCalls) -> None:
        self.calls = calls

    def __enter__(self) -> None:
        with self.calls._lock:
            self.calls._watched[threading.get_ident()] = sys._getframe(1)

    def __exit__(self, *exc: object) -> None:
        with self.calls._lock:
            self.calls._watched.pop(threading.get_ident(), None)


class Abandoned(Exception):
    """The call was left to itself: a stop came before its answer."""


def _sockets_of(frame: FrameType) -> list[socket.socket]:
    """Open sockets among a frame's locals and their attributes (one step)."""
    out = []
    try:
        values = list(frame.f_locals.values())
    except Exception:  # noqa: BLE001 - a frame that cannot be read: nothing found there
        return out
    for value in values:
        candidates = [value]
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict) and not isinstance(value, type):
            candidates += list(attributes.values())
        for candidate in candidates:
            if isinstance(candidate, socket.socket) and candidate.fileno() != -1:
                out.append(candidate)
    return out


def _quietly(fn: Callable[[Any], None], value: Any) -> None:
    try:
        fn(value)
    except Exception:  # noqa: BLE001, S110 - cleaning up after an abandoned call
        pass
