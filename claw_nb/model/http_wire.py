"""A plain-HTTP/1.1 client connection: one request at a time over a kept-alive socket, the
response's status and headers read, its body read whole or line by line (sized, chunked, or
until the server closes).

Why not `http.client` for ``http://`` model servers (the local ones, nearly always): importing
it costs ~20 ms of CPU in every process (it imports the `email` package for its header parser,
and `ssl`), as much as all the model calls of a 20-step session. An OpenAI-compatible server
needs a small part of HTTP: a POST with a sized JSON body, and a response with a length, chunks
or neither. ``https://`` keeps `http.client` (`HTTPTransport`), which TLS needs anyway.

Everything the server sends is bounded where it is read as framing: a status or header line
at most `MAX_LINE` bytes, at most `MAX_HEADERS` headers, a chunk-size line a hex number. A
response that breaks the framing raises `WireError` and its connection is not reused.
"""

from __future__ import annotations

import socket
from typing import Any

MAX_LINE = 65536
MAX_HEADERS = 100
MAX_INTERIM = 10  # 1xx answers before the real one
MAX_BODY = 1 << 34  # a length or chunk size past this is not a model server's
READ_SLICE = 1 << 20  # a sized body is read in slices: memory follows what arrives


class WireError(ConnectionError):
    """The server's response is not valid HTTP/1.x framing, or ended in the middle."""


class Headers(dict):
    """Response headers by lower-case name (a repeated header keeps its last value)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class WireResponse:
    """A response whose status line and headers are read; its body is read on demand."""

    def __init__(self, fp: Any, status: int, reason: str, headers: Headers, version: str):
        self.fp = fp
        self.status = status
        self.reason = reason
        self.headers = headers
        coding = headers.get("transfer-encoding", "").lower()
        self.chunked = "chunked" in coding
        length = headers.get("content-length")
        self._left: int | None = None  # bytes left in the body (sized) or the current chunk
        if self.chunked:
            self._left = 0
        elif length is not None:
            self._left = _size(length.strip(), 10, "Content-Length")
        if status in (204, 304):
            self._left, self.chunked = 0, False
        connection = headers.get("connection", "").lower()
        self.will_close = (
            "close" in connection
            or (version == "HTTP/1.0" and "keep-alive" not in connection)
            or (self._left is None)  # read until the server closes
            or (self.chunked and length is not None)  # both framings: trust neither again
        )
        self._done = self._left == 0 and not self.chunked

    def read(self) -> bytes:
        """The rest of the body."""
        if not self.chunked and not self._done:
            parts = []
            while self._left is None or self._left > 0:
                want = READ_SLICE if self._left is None else min(self._left, READ_SLICE)
                data = self.fp.read(want)
                if not data:
                    if self._left is not None:
                        raise WireError("the response ended before its body did")
                    break
                parts.append(data)
                if self._left is not None:
                    self._left -= len(data)
            self._left, self._done = 0, True
            return b"".join(parts)
        parts = []
        while True:
            line = self.readline(1 << 20)
            if not line:
                return b"".join(parts)
            parts.append(line)

    def readline(self, limit: int = -1) -> bytes:
        """The body's next line, its newline included (at most ``limit`` bytes when > 0);
        b"" at the end of the body."""
        parts: list[bytes] = []
        size = 0
        while not self._done and (limit <= 0 or size < limit):
            if self.chunked and self._left == 0:
                self._next_chunk()
                if self._done:
                    break
            want = -1 if self._left is None else self._left
            if limit > 0:
                want = limit - size if want < 0 else min(want, limit - size)
            data = self.fp.readline(want)
            if not data:
                if self._left is None:  # the server closed: the body ends here
                    self._done = True
                    break
                raise WireError("the response ended before its body did")
            parts.append(data)
            size += len(data)
            if self._left is not None:
                self._left -= len(data)
                if self._left == 0:
                    if self.chunked:
                        self._end_chunk()
                    else:
                        self._done = True
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

    def _next_chunk(self) -> None:
        line = self.fp.readline(MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise WireError("a chunk's size line is cut or too long")
        text = line.split(b";", 1)[0].strip().decode("latin-1")
        size = _size(text, 16, "chunk size")
        if size == 0:  # the last chunk, then trailer lines up to a blank one
            for _ in range(MAX_HEADERS + 1):
                trailer = self.fp.readline(MAX_LINE + 1)
                if not trailer:
                    raise WireError("the response ended in its trailer")
                if trailer in (b"\r\n", b"\n"):
                    self._done = True
                    return
            raise WireError("too many trailer lines")
        self._left = size

    def _end_chunk(self) -> None:
        if self.fp.read(2) != b"\r\n":
            raise WireError("a chunk did not end with CRLF")


class WireConnection:
    """One connection to ``host:port``; the same names as `http.client.HTTPConnection` uses
    for what `HTTPTransport` needs (``sock``, ``connect``, ``request``, ``getresponse``)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._fp: Any = None

    def connect(self) -> None:
        # the name as bytes when it is ASCII: as text, CPython encodes it with the IDNA codec,
        # whose first use imports `encodings.idna` and `stringprep` (~2-3 ms)
        host: str | bytes = self.host.encode("ascii") if self.host.isascii() else self.host
        self.sock = socket.create_connection((host, self.port), self.timeout)  # type: ignore[arg-type]

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        if self.sock is None:
            self.connect()
        if not _token(method) or not _token(path):
            raise ValueError("the request's method or path holds a space or a control character")
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError("a header holds a line break")
        lines = [f"{method} {path} HTTP/1.1", "Accept-Encoding: identity"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + body)  # type: ignore[union-attr]

    def getresponse(self) -> WireResponse:
        # a reader of its own, as http.client makes: bytes a server sent past the end of the
        # previous response (left in that reader's buffer) are never read as this one
        if self._fp is not None:
            self._fp.close()
        fp = self._fp = self.sock.makefile("rb")  # type: ignore[union-attr]
        for _ in range(MAX_INTERIM + 1):
            line = fp.readline(MAX_LINE + 1)
            if not line:
                raise WireError("the server closed the connection without a response")
            if len(line) > MAX_LINE or not line.endswith(b"\n"):
                raise WireError("the status line is too long")
            parts = line.decode("latin-1").rstrip("\r\n").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _digits(parts[1]):
                raise WireError(f"not an HTTP status line: {line[:60]!r}")
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = _read_headers(fp)
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue): the real one follows
            if not 100 <= status <= 999:
                raise WireError(f"bad status {status}")
            return WireResponse(fp, status, reason, headers, version)
        raise WireError(f"more than {MAX_INTERIM} interim answers")

    def close(self) -> None:
        fp, sock, self._fp, self.sock = self._fp, self.sock, None, None
        for thing in (fp, sock):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass


def _digits(text: str, base: int = 10) -> bool:
    """ASCII digits of ``base`` only (``str.isdigit`` takes superscripts, which int refuses)."""
    allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    return bool(text) and all(c in allowed for c in text)


def _size(text: str, base: int, what: str) -> int:
    if not _digits(text, base) or len(text) > 16 or int(text, base) > MAX_BODY:
        raise WireError(f"bad {what}: {text[:40]!r}")
    return int(text, base)


def _token(text: str) -> bool:
    """Printable ASCII without spaces (a request line's method and path)."""
    return bool(text) and all(33 <= ord(c) < 127 for c in text)


def _read_headers(fp: Any) -> Headers:
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise WireError("a header line is cut or too long")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise WireError(f"not a header line: {line[:60]!r}")
        dict.__setitem__(headers, name.lower(), value.strip())
    raise WireError(f"more than {MAX_HEADERS} headers")
