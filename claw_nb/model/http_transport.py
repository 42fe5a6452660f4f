"""One keep-alive HTTP connection to a model server: `http_wire` for ``http://`` and the
standard library's `http.client` for ``https://``.

Why not httpx: creating an `httpx.Client` imports httpcore, which imports trio and anyio when
they are installed: ~0.5 s of a process's start (1 s on a busy machine), half the budget for
the first request. The direct path needs one connection, JSON bodies, chunked Server-Sent
Events and per-read timeouts; `http_wire` says why plain HTTP does not use `http.client`.

A connection the server closed while idle is noticed before reuse (its socket turns readable)
and replaced, as connection pools do; a response that was not read to its end is never reused.
`abort()`, from another thread (a stop), shuts the socket of the request in flight, so a read
blocked on a silent server returns at once and the server sees the client leave (llama.cpp
then stops reading the prompt).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from claw_nb.model.http_wire import WireConnection, WireError


class ConnectTimeout(ConnectionError):
    """The server's port did not answer within the connect timeout."""


class StreamCut(ConnectionError):
    """The response ended (or broke) before the server finished it; retried like a drop."""


class RequestAborted(ConnectionError):
    """`abort()` ended the request (the caller's stop); never retried."""


class HTTPTransport:
    """POSTs to one URL over a kept-alive connection."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {**headers, "Host": parts.netloc or self.host}
        self._conn: Any = None  # a WireConnection, or http.client's for https
        self._errors: tuple[type[BaseException], ...] = (WireError,)  # a broken response
        self.aborted = False  # set by abort(); the next request is refused until reset_abort()

    def abort(self) -> None:
        """End the request in flight now, from any thread: its socket is shut down (a blocked
        read returns), and no request starts until `reset_abort()`."""
        self.aborted = True
        conn = self._conn
        sock = getattr(conn, "sock", None)
        if sock is not None:
            _shut(sock)

    def reset_abort(self) -> None:
        self.aborted = False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def post(self, body: bytes, connect_timeout: float, read_timeout: float) -> Any:
        """Send `body`; the response with its status and headers read, its body not yet."""
        if self.aborted:
            raise RequestAborted("the request was stopped before it was sent")
        conn = self._connection(connect_timeout)
        if self.aborted:  # a stop while connecting: abort() did not see this connection yet
            self.close()
            raise RequestAborted("the request was stopped before it was sent")
        conn.sock.settimeout(read_timeout)
        try:
            conn.request("POST", self.path, body=body, headers=self.headers)
            return conn.getresponse()
        except self._errors as exc:  # e.g. a garbled status line
            self.close()
            raise StreamCut(f"no valid response: {exc!r}") from exc
        except BaseException:
            self.close()
            raise

    def read_all(self, response: Any) -> bytes:
        try:
            data = response.read()
        except (*self._errors, OSError) as exc:
            self.close()
            raise StreamCut(f"the response broke off: {exc}") from exc
        self._after(response)
        return data

    def lines(self, response: Any) -> Iterator[str]:
        """The response body line by line (decoded); a body cut short raises StreamCut."""
        try:
            while True:
                line = response.readline()
                if not line:
                    break
                yield line.decode("utf-8", errors="replace").rstrip("\r\n")
        except (*self._errors, OSError) as exc:
            self.close()
            if isinstance(exc, TimeoutError):
                raise
            raise StreamCut(f"the stream broke off: {exc}") from exc
        self._after(response)

    def discard(self) -> None:
        """Give up on the current response (its connection cannot be reused)."""
        self.close()

    def _after(self, response: Any) -> None:
        if response.will_close:
            self.close()

    def _connection(self, connect_timeout: float) -> Any:
        conn = self._conn
        if conn is not None and (conn.sock is None or _readable(conn.sock)):
            self.close()  # closed by the server while idle (or left with unread data)
            conn = None
        if conn is None:
            if self.https:
                import http.client
                import ssl

                conn = http.client.HTTPSConnection(
                    self.host,
                    self.port,
                    timeout=connect_timeout,
                    context=ssl.create_default_context(),
                )
                self._errors = (WireError, http.client.HTTPException)
                if self.host.isascii():
                    # the name as bytes: as text, CPython encodes it with the IDNA codec,
                    # whose first use imports `encodings.idna` and `stringprep` (~2-3 ms);
                    # TLS still checks the certificate against `self.host`
                    conn._create_connection = _connect_by_bytes
            else:
                conn = WireConnection(self.host, self.port, connect_timeout)
            try:
                conn.connect()
            except TimeoutError as exc:
                raise ConnectTimeout(
                    f"no answer from {self.host}:{self.port} within {connect_timeout:g} s"
                ) from exc
            _no_delay(conn.sock)
            self._conn = conn
        return conn


def _shut(sock: Any) -> None:
    """Shut a socket down for both directions: unlike close(), this wakes a thread blocked
    reading it (Linux), and the peer sees the connection end."""
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _connect_by_bytes(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    host, port = address
    return socket.create_connection((host.encode("ascii"), port), *args, **kwargs)


def _readable(sock: Any) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _no_delay(sock: Any) -> None:
    import socket

    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
