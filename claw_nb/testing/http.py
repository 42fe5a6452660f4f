"""The HTTP side of the scripted server: a threading HTTP/1.1 server and its request handler.

Speaks just enough of the OpenAI chat-completions API for LiteLLM, the OpenAI SDK and httpx:
JSON answers, Server-Sent Events streams with ``Transfer-Encoding: chunked`` (so connections stay
alive), error bodies, cut and stalled connections. The JSON it sends is built in
:mod:`claw_nb.testing.completion_bodies`; the script itself lives in
:class:`claw_nb.testing.server.ScriptedServer` (the handler's ``owner``).
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from claw_nb.testing.completion_bodies import (
    IdSource,
    completion,
    envelope,
    error_body,
    stream_chunks,
)
from claw_nb.testing.replies import (
    MODEL_NAME,
    NO_REPLY_MESSAGE,
    CutStreamReply,
    DelayReply,
    EndlessStreamReply,
    ErrorReply,
    HangReply,
    HoldReply,
    TextReply,
    ToolCallsReply,
    default_error_type,
    error,
    reason_phrase,
    reply_from_dict,
    text,
)


class ScriptOwner(IdSource, Protocol):
    """What the handler needs of the server that owns the script (`ScriptedServer`)."""

    stop_event: threading.Event

    def record(
        self, path: str, headers: dict, body: dict, received_at: float, size: int
    ) -> dict: ...
    def next_reply(self) -> Any: ...
    def note_connection(self) -> None: ...
    def note_client_left(self) -> None: ...
    def note_error(self, exc: BaseException | None) -> None: ...


class ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


class ScriptedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, handler, owner: ScriptOwner):
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = super().get_request()
        # Without this every response pays Nagle + delayed-ACK (~40 ms per call).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.open_lock:
            self.open_sockets.add(sock)
        self.owner.note_connection()
        return sock, addr

    def shutdown_request(self, request):
        with self.open_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_all_connections(self) -> None:
        with self.open_lock:
            socks = list(self.open_sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet: no tracebacks on stderr
        self.owner.note_error(sys.exc_info()[1])


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedServer/1.0"
    server: ScriptedHTTPServer

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, format, *args):
        pass

    @property
    def owner(self) -> ScriptOwner:
        return self.server.owner

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {reason_phrase(status)}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        # One write for head and body: one TCP segment for small replies.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def _abort(self) -> None:
        """Drop the connection without (finishing) a response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _wait(self, seconds: float | None, gate: threading.Event | None = None) -> None:
        """Sleep up to ``seconds`` (forever if None) or until ``gate`` is set; raise
        ClientGone if the server stops or the client disconnects meanwhile (a client that
        left is noted: ``ScriptedServer.client_left``)."""
        stop = self.owner.stop_event
        end = None if seconds is None else time.monotonic() + seconds
        while True:
            if stop.is_set():
                raise ClientGone()
            if self._client_gone():  # before the gate: a client that left is noted
                self.owner.note_client_left()
                raise ClientGone()
            left = 0.05 if end is None else min(0.05, end - time.monotonic())
            if left <= 0 or (gate is not None and gate.is_set()):
                return
            (gate or stop).wait(left)

    # -- routes ----------------------------------------------------------------------------

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def do_GET(self):
        path = self._path()
        if path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "claw_nb"}
                    ],
                },
            )
        elif path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._not_found()

    def do_POST(self):
        received_at = time.perf_counter()
        raw = self._read_body()
        path = self._path()
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._not_found()
            return
        try:
            body: Any = json.loads(raw or b"{}")
            problem = "" if isinstance(body, dict) else "the body is not a JSON object"
        except ValueError as exc:
            problem = str(exc)
        if problem:
            body = error_body(f"scripted server: bad JSON: {problem}", "invalid_request_error")
            self._send_json(400, body)
            return
        meta = self.owner.record(path, dict(self.headers), body, received_at, len(raw))
        reply = self.owner.next_reply()
        try:
            self._answer(body, reply)
        except ClientGone:
            self._abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        meta["answered_at"] = time.perf_counter()

    def _not_found(self) -> None:
        self._send_json(
            404, error_body(f"scripted server: no route {self.path}", "not_found_error")
        )

    # -- replies ---------------------------------------------------------------------------

    def _answer(self, req: dict, reply: Any, depth: int = 0) -> None:
        if depth > 20:
            reply = error(500, "scripted server: reply functions nested too deeply")
        if callable(reply) and not isinstance(reply, type):
            try:
                reply = reply(req)
            except Exception as exc:  # noqa: BLE001 - reported to the client as HTTP 500
                self.owner.note_error(exc)
                reply = error(500, f"scripted server: reply function raised {exc!r}")
            self._answer(req, reply, depth + 1)
            return
        if isinstance(reply, (str, dict)):
            try:
                reply = reply_from_dict(reply)
            except (TypeError, ValueError) as exc:
                reply = error(500, f"scripted server: bad reply: {exc}")
        streaming = bool(req.get("stream"))

        if reply is None:
            self._send_json(
                500, error_body(NO_REPLY_MESSAGE, "scripted_server_error", "no_reply_left")
            )
        elif isinstance(reply, DelayReply):
            self._wait(reply.seconds)
            self._answer(req, reply.reply, depth + 1)
        elif isinstance(reply, HangReply):
            self._wait(None)
        elif isinstance(reply, HoldReply):
            self._wait(None, reply.gate)
            self._answer(req, reply.reply, depth + 1)
        elif isinstance(reply, EndlessStreamReply):
            if streaming:
                self._stream_endless(req, reply)
            else:
                self._answer(req, error(400, "scripted server: endless_stream needs stream"))
        elif isinstance(reply, ErrorReply):
            self._send_error_reply(reply)
        elif isinstance(reply, CutStreamReply):
            if streaming:
                self._stream_cut(req, reply)
            else:
                self._abort()
        elif isinstance(reply, (TextReply, ToolCallsReply)):
            if streaming:
                self._stream_message(req, reply)
            else:
                self._send_message(req, reply)
        else:
            self._answer(req, error(500, f"scripted server: not a reply: {reply!r}"), depth + 1)

    def _send_error_reply(self, r: ErrorReply) -> None:
        if r.body is None:
            message = r.message or f"scripted error: HTTP {r.status} {reason_phrase(r.status)}"
            body = error_body(message, r.type or default_error_type(r.status), r.code)
            payload = json.dumps(body).encode("utf-8")
            ctype = "application/json"
        elif isinstance(r.body, (bytes, str)):
            payload = r.body.encode("utf-8") if isinstance(r.body, str) else r.body
            ctype = "text/plain; charset=utf-8"
        else:
            payload = json.dumps(r.body).encode("utf-8")
            ctype = "application/json"
        self._send_bytes(r.status, payload, content_type=ctype, headers=r.headers)

    def _send_message(self, req: dict, r: TextReply | ToolCallsReply) -> None:
        self._send_json(200, completion(req, r, self.owner))

    # -- streaming -------------------------------------------------------------------------

    def _start_stream(self) -> None:
        self.wfile.write(
            (
                "HTTP/1.1 200 OK\r\n"
                f"Server: {self.server_version}\r\n"
                f"Date: {self.date_time_string()}\r\n"
                "Content-Type: text/event-stream; charset=utf-8\r\n"
                "Cache-Control: no-cache\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode("latin-1")
        )

    def _sse(self, data: Any) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        event = f"data: {payload}\n\n".encode()
        self.wfile.write(f"{len(event):x}\r\n".encode("ascii") + event + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stream_message(self, req: dict, r: TextReply | ToolCallsReply) -> None:
        self._start_stream()
        for c in stream_chunks(req, r, self.owner):
            self._sse(c)
        self._sse("[DONE]")
        self._end_stream()

    def _stream_endless(self, req: dict, r: EndlessStreamReply) -> None:
        """Content chunks until the client closes the connection (noted) or the server stops.
        Each chunk ends with a count, as LiteLLM cuts a stream of identical chunks itself."""
        self._start_stream()
        base = envelope(req, "chat.completion.chunk", self.owner)
        count = 0
        try:
            while not self.owner.stop_event.is_set():
                delta = {"content": f"{r.piece}{count} "}
                self._sse(
                    {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                )
                count += 1
                if self._client_gone():
                    break
        except OSError:
            pass
        self.owner.note_client_closed_stream()
        self.close_connection = True

    def _stream_cut(self, req: dict, r: CutStreamReply) -> None:
        self._start_stream()
        # Send the role chunk and the prefix (or a token piece of it), then drop the socket.
        partial = text(r.content_prefix, usage=None)
        for c in stream_chunks(req, partial, self.owner):
            if c["choices"] and c["choices"][0]["finish_reason"]:
                break
            self._sse(c)
        self._abort()
