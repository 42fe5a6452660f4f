"""The host's end of a session sandbox's command server (``_server.py``): its source, and the
socket both speak over, length-prefixed: ``marshal`` requests, JSON replies, bounded and
checked."""

from __future__ import annotations

import array
import importlib.machinery
import importlib.util
import json
import marshal
import os
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SERVER = Path(__file__).with_name("_server.py")
SEND_TIMEOUT_S = 10.0
MAX_REPLY_BYTES = 4096  # a reply is a PID or an exit status: anything longer is refused
_server_source: str | None = None
_server_program: list[str] | None = None


class SessionError(Exception):
    """The session sandbox could not start, or its server broke the protocol."""


def server_source() -> str:
    global _server_source
    if _server_source is None:
        _server_source = SERVER.read_text()
    return _server_source


# The server's first line: its code arrives as marshal data (this very interpreter runs it).
_BOOTSTRAP = "import marshal,sys;exec(marshal.loads(bytes.fromhex(sys.argv.pop(1))))"


def server_program() -> list[str]:
    """What follows ``python -I -S`` to start the server: its code object, from the bytecode
    cache as for an imported module (compiling its 14 kB of source cost each sandbox start
    ~5 ms of CPU), or its source where bytecode is neither cached nor written. Either way the
    host reads it and passes it on the command line: nothing inside the sandbox can change
    the code that starts."""
    global _server_program
    if _server_program is None:
        _server_program = ["-c", server_source()]
        try:
            cached = os.path.exists(importlib.util.cache_from_source(str(SERVER)))
            if cached or not sys.dont_write_bytecode:
                loader = importlib.machinery.SourceFileLoader("_claw_server", str(SERVER))
                code = loader.get_code("_claw_server")  # checked against the source's stamp
                if code is not None:
                    _server_program = ["-c", _BOOTSTRAP, marshal.dumps(code).hex()]
        except (OSError, ImportError, ValueError, SyntaxError):
            pass
    return _server_program


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


class Channel:
    """The host's end of the server's socket: length-prefixed JSON both ways, replies bounded."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.closed = False

    def send(self, message: dict, fds: Sequence[int] = ()) -> None:
        """A request (``marshal`` data: the server runs this very interpreter) with ``fds``."""
        data = marshal.dumps(message)
        head = len(data).to_bytes(4, "big")
        self.sock.settimeout(SEND_TIMEOUT_S)
        try:
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
            payload = head + data  # one call, one wake-up of the server (the fds ride along)
            sent = self.sock.sendmsg([payload], rights if fds else [])
            if sent < len(payload):
                self.sock.sendall(payload[sent:])
        finally:
            self.sock.setblocking(False)

    def receive(self, timeout: float | None) -> dict | None:
        """The next reply within ``timeout`` seconds (None: none yet); SessionError at end of
        file or on anything that is not a small JSON object."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            message = self._parse()
            if message is not None:
                return message
            if self.closed:
                raise SessionError("the sandbox's command server ended")
            left = None if end is None else max(0.0, end - time.monotonic())
            waiting = left is None or left > 0
            if waiting:  # a look without waiting (a running command's poll) needs no selector
                with selectors.DefaultSelector() as sel:
                    sel.register(self.sock, selectors.EVENT_READ)
                    if not sel.select(left):
                        return None
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                if not waiting:
                    return None  # nothing there yet
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
            self.buffer += data
            if len(self.buffer) > MAX_REPLY_BYTES + 4:
                raise SessionError("the sandbox's command server sent too much")

    def _parse(self) -> dict | None:
        if len(self.buffer) < 4:
            return None
        size = int.from_bytes(self.buffer[:4], "big")
        if size > MAX_REPLY_BYTES:
            raise SessionError("the sandbox's command server sent an oversized reply")
        if len(self.buffer) < 4 + size:
            return None
        body = bytes(self.buffer[4 : 4 + size])
        del self.buffer[: 4 + size]
        try:
            message = json.loads(body)
        except ValueError:
            raise SessionError(
                "the sandbox's command server sent a reply that is not JSON"
            ) from None
        if not isinstance(message, dict):
            raise SessionError("the sandbox's command server sent a reply that is not an object")
        return message

    def pending(self) -> bool:
        """True if the server wrote something nobody asked for (or closed)."""
        if self.buffer or self.closed:
            return True
        try:
            return self.sock.recv(1, socket.MSG_PEEK) is not None
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


def small_int(message: dict, key: str, low: int, high: int) -> int:
    value = message.get(key)
    if type(value) is not int or not low <= value <= high:
        raise SessionError(f"the sandbox's command server sent an invalid {key!r}")
    return value
