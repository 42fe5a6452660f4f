"""A recording proxy in front of the model server, so an outside agent's tokens are counted.

An external agent (`claw_nb.lab.external_agent`) talks OpenAI's chat-completions protocol to
this proxy instead of the model server. The proxy forwards ``POST /v1/chat/completions``
(streamed or not) and ``GET /v1/models`` to the real server and records, per call, the tokens
the server reported (its ``usage``; for a stream, the final usage chunk, which the proxy asks
for with ``stream_options.include_usage`` and hides again when the agent did not ask) and how
long the call took.

The host trusts nothing the agent sends beyond forwarding it: bodies are bounded, only the
JSON body and two headers go upstream, the real API key is added here (the agent only ever sees
a dummy one) and the counts come from the server's replies, never from the agent. It listens
on a unix socket (bound into the trial's sandbox, which has no network) or on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from claw_nb.records import record

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a long conversation's JSON, with room to spare
MAX_FORWARDING = 4  # requests forwarded at once; more get 429 (each parses up to 8 MiB of JSON)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a whole (non-streamed) reply, read to find its usage
MAX_LINE_BYTES = 4 * 1024 * 1024  # one server-sent event line that is parsed for usage
MAX_CALLS = 100_000  # calls recorded per trial (the rest are counted, not kept)
ROUTES = {"/chat/completions": "POST", "/models": "GET"}


@record(frozen=True)
class ModelCall:
    """One forwarded call: what the server said it cost and how long it took."""

    path: str
    status: int
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    usage_reported: bool
    started: float  # time.time()
    first_byte_s: float | None
    duration_s: float
    error: str | None = None


class RecordingProxy:
    """Forwards an agent's OpenAI-style calls to ``upstream`` (e.g. ``http://127.0.0.1:8000/v1``)
    and records each chat call; ``socket_path`` set: listens there, else on 127.0.0.1.

    ``on_call`` is called (from the proxy's threads) after each recorded chat call. After
    :meth:`close_gate` every new call is answered 503 (a stopped trial's agent gets no more
    model time)."""

    def __init__(
        self,
        upstream: str,
        *,
        api_key: str | None = None,
        socket_path: Path | None = None,
        on_call: Callable[[ModelCall], None] | None = None,
        timeout: float = 600.0,
    ):
        parsed = urllib.parse.urlsplit(upstream.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(
                f"the model server's address must be http(s)://HOST..., got {upstream!r}"
            )
        self.upstream = parsed
        self.api_key = api_key
        self.socket_path = socket_path
        self.on_call = on_call
        self.timeout = timeout
        self.calls: list[ModelCall] = []
        self.dropped = 0
        self.gate_open = True
        self._lock = threading.Lock()
        # bounds the host memory an agent can make the proxy spend parsing bodies
        self.forwarding = threading.BoundedSemaphore(MAX_FORWARDING)
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    # -- life ------------------------------------------------------------------------------

    def start(self) -> RecordingProxy:
        handler = _handler_for(self)
        if self.socket_path is not None:
            server: socketserver.BaseServer = _UnixServer(str(self.socket_path), handler)
            os.chmod(self.socket_path, 0o600)
        else:
            server = _TcpServer(("127.0.0.1", 0), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.socket_path is not None:
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def close_gate(self) -> None:
        """From now on every call is refused (503)."""
        self.gate_open = False

    @property
    def url(self) -> str:
        """The proxy's base URL on 127.0.0.1 (TCP proxies only)."""
        if not isinstance(self._server, _TcpServer):
            raise RuntimeError("this proxy listens on a unix socket, not on a port")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- figures ---------------------------------------------------------------------------

    def record(self, call: ModelCall) -> None:
        with self._lock:
            if len(self.calls) < MAX_CALLS:
                self.calls.append(call)
            else:
                self.dropped += 1
        if self.on_call is not None:
            self.on_call(call)

    def totals(self) -> tuple[int, int, int]:
        """(chat calls, prompt tokens, completion tokens) recorded so far."""
        with self._lock:
            chats = [c for c in self.calls if c.path == "/chat/completions"]
            return (
                len(chats) + self.dropped,
                sum(c.prompt_tokens for c in chats),
                sum(c.completion_tokens for c in chats),
            )


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def _handler_for(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    """One agent connection: each request forwarded on a fresh upstream connection."""

    owner: RecordingProxy
    protocol_version = "HTTP/1.1"
    server_version = "claw-lab-proxy"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def address_string(self) -> str:  # a unix socket's peer has no address
        return "agent"

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _route(self) -> str | None:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if path.startswith("/v1/"):
            path = path[3:]
        return path if path in ROUTES else None

    def _refuse(self, status: int, message: str) -> None:
        body = json.dumps(
            {"error": {"message": message, "type": "claw_lab_proxy", "code": status}}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        route = self._route()
        if route != "/models":
            self._refuse(404, f"the lab's proxy forwards only {', '.join(ROUTES)}")
            return
        if not self.owner.gate_open:
            self._refuse(503, "the trial has stopped")
            return
        try:
            conn, resp = self._upstream("GET", route, None)
        except OSError as exc:
            self._refuse(502, f"model server unreachable: {exc}")
            return
        try:
            body = resp.read(MAX_RESPONSE_BYTES)
            self._reply(resp.status, resp.getheader("Content-Type"), body)
        finally:
            conn.close()

    def do_POST(self) -> None:
        route = self._route()
        if route != "/chat/completions":
            self.close_connection = True
            self._refuse(404, f"the lab's proxy forwards only {', '.join(ROUTES)}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._refuse(411, "a Content-Length is required")
            return
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._refuse(413, f"request body over {MAX_REQUEST_BYTES} bytes")
            return
        raw = self.rfile.read(int(length))
        if not self.owner.gate_open:
            self._refuse(503, "the trial has stopped")
            return
        if not self.owner.forwarding.acquire(blocking=False):
            self._refuse(429, f"at most {MAX_FORWARDING} requests at once")
            return
        try:
            self._forward_chat(route, raw)
        finally:
            self.owner.forwarding.release()

    def _forward_chat(self, route: str, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # a 200k-deep list must not print a traceback
            body = None
        if not isinstance(body, dict):
            self._refuse(400, "the body must be a JSON object")
            return
        stream = body.get("stream") is True
        hide_usage = False
        if stream:
            options = body.get("stream_options")
            if not isinstance(options, dict) or not options.get("include_usage"):
                body["stream_options"] = {**(options or {}), "include_usage": True}
                hide_usage = True
        started, t0 = time.time(), time.monotonic()
        try:
            conn, resp = self._upstream("POST", route, json.dumps(body).encode())
        except OSError as exc:
            self.owner.record(
                ModelCall(
                    route,
                    502,
                    stream,
                    0,
                    0,
                    False,
                    started,
                    None,
                    time.monotonic() - t0,
                    f"model server unreachable: {exc}",
                )
            )
            self._refuse(502, f"model server unreachable: {exc}")
            return
        first = time.monotonic() - t0
        try:
            if stream and resp.status == 200:
                usage, error = self._relay_stream(resp, hide_usage)
            else:
                data = resp.read(MAX_RESPONSE_BYTES)
                self._reply(resp.status, resp.getheader("Content-Type"), data)
                usage, error = (
                    _usage_of(data),
                    None if resp.status == 200 else f"HTTP {resp.status}",
                )
        finally:
            conn.close()
        self.owner.record(
            ModelCall(
                route,
                resp.status,
                stream,
                _count((usage or {}).get("prompt_tokens")),
                _count((usage or {}).get("completion_tokens")),
                usage is not None,
                started,
                first,
                time.monotonic() - t0,
                error,
            )
        )

    def _upstream(
        self, method: str, route: str, body: bytes | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        up = self.owner.upstream
        cls = http.client.HTTPSConnection if up.scheme == "https" else http.client.HTTPConnection
        conn = cls(up.hostname, up.port, timeout=self.owner.timeout)
        conn.connect()
        if conn.sock is not None and up.scheme == "http":
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {"Accept": self.headers.get("Accept") or "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.owner.api_key:
            headers["Authorization"] = f"Bearer {self.owner.api_key}"
        conn.request(method, up.path + route, body=body, headers=headers)
        return conn, conn.getresponse()

    def _reply(self, status: int, content_type: str | None, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _relay_stream(
        self, resp: http.client.HTTPResponse, hide_usage: bool
    ) -> tuple[dict | None, str | None]:
        """Pass the server-sent events on as they come (chunked); the last usage seen."""
        self.send_response(200)
        self.send_header("Content-Type", resp.getheader("Content-Type") or "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        usage: dict | None = None
        error = None
        try:
            while True:
                line = resp.readline(MAX_LINE_BYTES)
                if not line:
                    break
                event = _event_data(line)
                if event is not None and isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                    if hide_usage and not event.get("choices"):
                        continue  # its blank line still goes: an empty event is ignored
                self._chunk(line)
        except (OSError, http.client.HTTPException) as exc:
            error = f"stream broken: {exc}"
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        return usage, error

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _event_data(line: bytes) -> dict | None:
    """The JSON object of one ``data: {...}`` line, if it is one."""
    if not line.startswith(b"data:"):
        return None
    payload = line[5:].strip()
    if not payload.startswith(b"{"):
        return None
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _usage_of(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    usage = value.get("usage") if isinstance(value, dict) else None
    return usage if isinstance(usage, dict) else None


def _count(value: Any) -> int:
    """A token count from a reply (0 when it is missing or not a count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
