"""A library's blocking request that a stop can end: for the LiteLLM path, whose sockets
(httpx's, the OpenAI SDK's) are its own.

The call runs on a helper thread; the caller waits for it or for the stop, whichever comes
first, so a stop returns at once even while the server has sent nothing. The sockets the
helper threads connect are noted (an audit hook on `socket.connect`, installed once, on first
use: the one public way to see a socket a library opens) and a stop shuts them down, so the
server sees the client leave and stops working on the request (llama.cpp, Ollama). A kept-alive
socket an earlier call opened is among them; a TLS socket is not (the TLS wrapper takes over
its descriptor), so a stopped HTTPS request is left to end when the server answers.
"""

from __future__ import annotations

import socket
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

_watched: dict[int, weakref.WeakSet] = {}  # helper thread id -> where its sockets are noted
_hooked = False
_hook_lock = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and _watched:
        noted = _watched.get(threading.get_ident())
        if noted is not None and isinstance(args[0], socket.socket):
            noted.add(args[0])


def _install_hook() -> None:
    global _hooked
    with _hook_lock:
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True


class AbandonableCalls:
    """Runs one call at a time on a helper thread; `abort()` (any thread) ends the wait and
    shuts the sockets the calls connected."""

    def __init__(self, name: str = "claw-model-call") -> None:
        self.name = name
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._abort = threading.Event()
        self._waiter: threading.Event | None = None  # the wait of the call in progress
        _install_hook()

    def reset(self) -> None:
        """A new call starts: an earlier call's abort no longer counts."""
        self._abort.clear()

    def abort(self) -> None:
        """End the wait of the call in progress and shut its connections (a stop)."""
        self._abort.set()
        waiter = self._waiter
        if waiter is not None:
            waiter.set()
        for sock in list(self.sockets):
            try:
                if sock.fileno() != -1:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def run(self, fn: Callable[[], Any], *, on_abandon: Callable[[Any], None] | None = None) -> Any:
        """`fn()`'s result, or `Abandoned` once `abort()` came first. A result that arrives
        after the abandon goes to `on_abandon` (close a stream nobody will read)."""
        if self.aborted:
            raise Abandoned()
        done = threading.Event()
        lock = threading.Lock()
        box: dict[str, Any] = {}

        def work() -> None:
            _watched[threading.get_ident()] = self.sockets
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            else:
                with lock:
                    if box.get("abandoned") and on_abandon is not None:
                        _quietly(on_abandon, result)
                    box["result"] = result
            finally:
                _watched.pop(threading.get_ident(), None)
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


class Abandoned(Exception):
    """The call was left to itself: a stop came before its answer."""


def _quietly(fn: Callable[[Any], None], value: Any) -> None:
    try:
        fn(value)
    except Exception:  # noqa: BLE001, S110 - cleaning up after an abandoned call
        pass
