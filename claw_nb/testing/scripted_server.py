"""A real OpenAI-compatible HTTP server on 127.0.0.1 that replays scripted replies.

It exists so the agent can be exercised end to end -- through LiteLLM, httpx and a real TCP
socket -- without a model. Tests, notebooks and the CLI demo use it::

    from claw_nb.testing import ScriptedServer, text, tool_calls, call

    with ScriptedServer([tool_calls(call("read_file", {"path": "a.py"})), text("done")]) as srv:
        ...  # point the agent at srv.url ("http://127.0.0.1:PORT/v1"), model "openai/scripted"
        assert srv.requests[0]["messages"][0]["role"] == "system"

Each POST /v1/chat/completions takes the next reply from the script. A reply is one of:

* ``text(...)``        -- a normal assistant message
* ``tool_calls(...)``  -- an assistant message with tool calls, built from ``call(...)``
* ``error(...)``       -- an HTTP error status with an OpenAI-style JSON error body
* ``cut_stream(...)``  -- a stream that breaks midway (or a connection closed with no response)
* ``delay(s, reply)``  -- wait, then send ``reply``
* ``hang()``           -- never answer (until the server stops or the client goes away)
* a plain ``str``      -- shorthand for ``text(str)``
* a ``dict``           -- the JSON form read by :func:`reply_from_dict`
* a callable ``fn(request_body) -> reply`` -- decided at request time

When the script runs out the server answers HTTP 500 with the message
"scripted server: no reply left" (unless a ``default`` reply was given), so a test that makes
more calls than it scripted fails loudly.

Requests with ``"stream": true`` get Server-Sent Events in OpenAI ``chat.completion.chunk``
form, sent with ``Transfer-Encoding: chunked`` so the connection stays alive afterwards.

Standard library only; importing this module does not import LiteLLM.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "MODEL_NAME",
    "NO_REPLY_MESSAGE",
    "CutStreamReply",
    "DelayReply",
    "ErrorReply",
    "HangReply",
    "Reply",
    "ScriptedServer",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
    "call",
    "cut_stream",
    "delay",
    "error",
    "hang",
    "main",
    "reply_from_dict",
    "text",
    "tool_calls",
]

MODEL_NAME = "scripted"
NO_REPLY_MESSAGE = "scripted server: no reply left"

#: Characters per content delta when streaming.
CONTENT_CHUNK = 8
#: Characters per tool-call argument fragment when streaming.
ARGUMENT_CHUNK = 6


# --------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------

UsageSpec = bool | dict | None


@dataclass
class TextReply:
    content: str
    usage: UsageSpec = True
    finish_reason: str = "stop"
    reasoning: str | None = None


@dataclass
class ToolCall:
    name: str
    arguments: dict | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments string as sent on the wire (a str is sent verbatim)."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass
class ToolCallsReply:
    calls: list[ToolCall]
    content: str | None = None
    usage: UsageSpec = True
    finish_reason: str = "tool_calls"


@dataclass
class ErrorReply:
    status: int
    message: str | None = None
    headers: dict[str, str] | None = None
    body: Any = None  # dict -> JSON, str/bytes -> verbatim, None -> OpenAI-style error object
    code: str | None = None
    type: str | None = None


@dataclass
class CutStreamReply:
    content_prefix: str = ""


@dataclass
class DelayReply:
    seconds: float
    reply: Any


@dataclass
class HangReply:
    pass


Reply = (
    TextReply
    | ToolCallsReply
    | ErrorReply
    | CutStreamReply
    | DelayReply
    | HangReply
    | str
    | dict
    | Callable[[dict], Any]
)


def text(
    content: str,
    usage: UsageSpec = True,
    finish_reason: str = "stop",
    reasoning: str | None = None,
) -> TextReply:
    """A plain assistant message.

    ``usage=True`` computes rough token counts (characters / 4), a dict is sent as given and
    ``None`` leaves the ``usage`` field out entirely. ``reasoning`` is sent as
    ``reasoning_content`` (the vLLM / DeepSeek convention).
    """
    return TextReply(content=content, usage=usage, finish_reason=finish_reason, reasoning=reasoning)


def call(name: str, arguments: dict | str | None = None, id: str | None = None) -> ToolCall:
    """One tool call. A ``str`` ``arguments`` is sent verbatim (it may be malformed JSON)."""
    return ToolCall(name=name, arguments={} if arguments is None else arguments, id=id)


def tool_calls(
    *calls: ToolCall,
    content: str | None = None,
    usage: UsageSpec = True,
    finish_reason: str = "tool_calls",
) -> ToolCallsReply:
    """An assistant message carrying one or more tool calls."""
    if not calls:
        raise ValueError("tool_calls() needs at least one call(...)")
    return ToolCallsReply(
        calls=list(calls), content=content, usage=usage, finish_reason=finish_reason
    )


def error(
    status: int,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    code: str | None = None,
    type: str | None = None,
) -> ErrorReply:
    """An HTTP error. E.g. ``error(429, headers={"Retry-After": "0"})`` or
    ``error(400, message="...maximum context length...", code="context_length_exceeded")``."""
    return ErrorReply(
        status=int(status), message=message, headers=headers, body=body, code=code, type=type
    )


def cut_stream(content_prefix: str = "") -> CutStreamReply:
    """Break the connection midway: a streaming request gets a few chunks of
    ``content_prefix`` and then the socket closes without ``[DONE]``; a non-streaming request
    gets the socket closed without any response."""
    return CutStreamReply(content_prefix=content_prefix)


def delay(seconds: float, reply: Any) -> DelayReply:
    """Wait ``seconds`` before sending ``reply``."""
    return DelayReply(seconds=float(seconds), reply=reply)


def hang() -> HangReply:
    """Never answer; the connection is dropped when the server stops or the client leaves."""
    return HangReply()


def reply_from_dict(d: Any) -> Any:
    """Build a reply from its JSON form, as used by ``--script`` files.

    Forms: ``"hi"`` / ``{"text": "hi", "usage": ..., "finish_reason": ..., "reasoning": ...}``,
    ``{"tool_calls": [{"name": ..., "arguments": {...} | "raw", "id": ...}], "content": ...}``,
    ``{"error": 500, "message": ..., "headers": {...}, "body": ..., "code": ..., "type": ...}``,
    ``{"cut_stream": "prefix"}``, ``{"delay": 1.5, "reply": {...}}``, ``{"hang": true}``.
    """
    if isinstance(d, str):
        return text(d)
    if not isinstance(d, dict):
        raise TypeError(f"a scripted reply must be a string or an object, not {d!r}")
    if "text" in d:
        return text(
            d["text"],
            usage=d.get("usage", True),
            finish_reason=d.get("finish_reason", "stop"),
            reasoning=d.get("reasoning"),
        )
    if "tool_calls" in d:
        calls = []
        for c in d["tool_calls"]:
            if not isinstance(c, dict) or "name" not in c:
                raise ValueError(f"a tool call needs a name: {c!r}")
            calls.append(call(c["name"], c.get("arguments", {}), id=c.get("id")))
        return tool_calls(
            *calls,
            content=d.get("content"),
            usage=d.get("usage", True),
            finish_reason=d.get("finish_reason", "tool_calls"),
        )
    if "error" in d:
        return error(
            int(d["error"]),
            message=d.get("message"),
            headers=d.get("headers"),
            body=d.get("body"),
            code=d.get("code"),
            type=d.get("type"),
        )
    if "cut_stream" in d:
        prefix = d["cut_stream"]
        return cut_stream(prefix if isinstance(prefix, str) else "")
    if "delay" in d:
        return delay(float(d["delay"]), reply_from_dict(d.get("reply", "")))
    if "hang" in d:
        return hang()
    raise ValueError(f"unknown scripted reply form: {d!r}")


# --------------------------------------------------------------------------------------------
# Wire format helpers
# --------------------------------------------------------------------------------------------


def _rough_tokens(obj: Any) -> int:
    if obj is None:
        return 0
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return max(1, len(s) // 4)


def _usage(spec: UsageSpec, request: dict, completion: Any) -> dict | None:
    if spec is None or spec is False:
        return None
    if isinstance(spec, dict):
        u = dict(spec)
        if "total_tokens" not in u and "prompt_tokens" in u and "completion_tokens" in u:
            u["total_tokens"] = u["prompt_tokens"] + u["completion_tokens"]
        return u
    prompt = _rough_tokens([request.get("messages", []), request.get("tools")])
    comp = _rough_tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": comp, "total_tokens": prompt + comp}


def _pieces(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def _default_error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, handler, owner: ScriptedServer):
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = super().get_request()
        # Without this every response pays Nagle + delayed-ACK (~40 ms per call).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        self.owner._note_connection()
        return sock, addr

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_all_connections(self) -> None:
        with self._open_lock:
            socks = list(self._open)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet: no tracebacks on stderr
        self.owner._note_error(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedServer/1.0"
    server: _HTTPServer

    # -- plumbing --------------------------------------------------------------------------

    def log_message(self, format, *args):
        pass

    @property
    def owner(self) -> ScriptedServer:
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
            f"HTTP/1.1 {status} {_reason(status)}",
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

    def _wait(self, seconds: float | None) -> None:
        """Sleep up to ``seconds`` (forever if None); raise _ClientGone if the server stops
        or the client disconnects meanwhile."""
        stop = self.owner._stop_event
        end = None if seconds is None else time.monotonic() + seconds
        while True:
            left = 0.05 if end is None else min(0.05, end - time.monotonic())
            if left <= 0:
                return
            if stop.wait(left) or self._client_gone():
                raise _ClientGone()

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
            self._send_json(
                400,
                {
                    "error": {
                        "message": f"scripted server: bad JSON: {problem}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        self.owner._record(path, dict(self.headers), body)
        reply = self.owner._next_reply()
        try:
            self._answer(body, reply)
        except _ClientGone:
            self._abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _not_found(self) -> None:
        self._send_json(
            404,
            {
                "error": {
                    "message": f"scripted server: no route {self.path}",
                    "type": "not_found_error",
                    "param": None,
                    "code": None,
                }
            },
        )

    # -- replies ---------------------------------------------------------------------------

    def _answer(self, req: dict, reply: Any, depth: int = 0) -> None:
        if depth > 20:
            reply = error(500, "scripted server: reply functions nested too deeply")
        if callable(reply) and not isinstance(reply, type):
            try:
                reply = reply(req)
            except Exception as exc:  # noqa: BLE001 - reported to the client as HTTP 500
                self.owner._note_error(exc)
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
                500,
                {
                    "error": {
                        "message": NO_REPLY_MESSAGE,
                        "type": "scripted_server_error",
                        "param": None,
                        "code": "no_reply_left",
                    }
                },
            )
        elif isinstance(reply, DelayReply):
            self._wait(reply.seconds)
            self._answer(req, reply.reply, depth + 1)
        elif isinstance(reply, HangReply):
            self._wait(None)
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
            payload = json.dumps(
                {
                    "error": {
                        "message": r.message
                        or f"scripted error: HTTP {r.status} {_reason(r.status)}",
                        "type": r.type or _default_error_type(r.status),
                        "param": None,
                        "code": r.code,
                    }
                }
            ).encode("utf-8")
            ctype = "application/json"
        elif isinstance(r.body, (bytes, str)):
            payload = r.body.encode("utf-8") if isinstance(r.body, str) else r.body
            ctype = "text/plain; charset=utf-8"
        else:
            payload = json.dumps(r.body).encode("utf-8")
            ctype = "application/json"
        self._send_bytes(r.status, payload, content_type=ctype, headers=r.headers)

    def _message(self, r: TextReply | ToolCallsReply) -> dict:
        if isinstance(r, TextReply):
            msg: dict[str, Any] = {"role": "assistant", "content": r.content}
            if r.reasoning is not None:
                msg["reasoning_content"] = r.reasoning
            return msg
        return {
            "role": "assistant",
            "content": r.content,
            "tool_calls": [
                {
                    "id": c.id or self.owner._new_call_id(),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                }
                for c in r.calls
            ],
        }

    def _envelope(self, req: dict, obj: str) -> dict:
        return {
            "id": self.owner._new_completion_id(),
            "object": obj,
            "created": int(time.time()),
            "model": req.get("model") or MODEL_NAME,
            "system_fingerprint": "scripted",
        }

    def _send_message(self, req: dict, r: TextReply | ToolCallsReply) -> None:
        msg = self._message(r)
        resp = self._envelope(req, "chat.completion")
        resp["choices"] = [
            {"index": 0, "message": msg, "finish_reason": r.finish_reason, "logprobs": None}
        ]
        usage = _usage(r.usage, req, {k: v for k, v in msg.items() if k != "role"})
        if usage is not None:
            resp["usage"] = usage
        self._send_json(200, resp)

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

    def _chunks(self, req: dict, r: TextReply | ToolCallsReply) -> Iterable[dict]:
        base = self._envelope(req, "chat.completion.chunk")

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }

        msg = self._message(r)
        content = msg.get("content")
        yield chunk({"role": "assistant", "content": ""})
        reasoning = msg.get("reasoning_content")
        if reasoning:
            for piece in _pieces(reasoning, CONTENT_CHUNK):
                yield chunk({"reasoning_content": piece})
        if content:
            for piece in _pieces(content, CONTENT_CHUNK):
                yield chunk({"content": piece})
        for i, tc in enumerate(msg.get("tool_calls") or []):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for frag in _pieces(tc["function"]["arguments"], ARGUMENT_CHUNK):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": frag}}]})
        yield chunk({}, r.finish_reason)
        usage = _usage(r.usage, req, {k: v for k, v in msg.items() if k != "role"})
        if usage is not None:
            yield {**base, "choices": [], "usage": usage}

    def _stream_message(self, req: dict, r: TextReply | ToolCallsReply) -> None:
        self._start_stream()
        for c in self._chunks(req, r):
            self._sse(c)
        self._sse("[DONE]")
        self._end_stream()

    def _stream_cut(self, req: dict, r: CutStreamReply) -> None:
        self._start_stream()
        # Send the role chunk and the prefix (or a token piece of it), then drop the socket.
        partial = text(r.content_prefix, usage=None)
        for c in self._chunks(req, partial):
            if c["choices"] and c["choices"][0]["finish_reason"]:
                break
            self._sse(c)
        self._abort()


class ScriptedServer:
    """An OpenAI-compatible chat-completions server that replays ``replies`` in order.

    Runs a ``ThreadingHTTPServer`` in a daemon thread. Use as a context manager or call
    :meth:`start` / :meth:`stop`. ``default`` (optional) is answered once the script is
    exhausted instead of the "no reply left" HTTP 500.
    """

    def __init__(
        self,
        replies: list | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default: Any = None,
    ):
        self.host = host
        self.port = port
        self.default = default
        self._script: deque = deque(replies or [])
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._request_meta: list[dict] = []
        self._errors: list[BaseException] = []
        self._no_reply = 0
        self._connections = 0
        self._ids = 0
        self._stop_event = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ScriptedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop_event.set()  # wakes delay()/hang() handlers
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_all_connections()  # idle keep-alive connections
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        """Base URL for OpenAI-style clients, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not started")
        return f"http://{self.host}:{self.port}"

    # -- script ----------------------------------------------------------------------------

    def queue(self, *replies: Any) -> ScriptedServer:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[dict]:
        """A snapshot of the JSON bodies received on the chat-completions route, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_meta(self) -> list[dict]:
        """Per request: ``{"path": ..., "headers": {...}}`` (same order as :attr:`requests`)."""
        with self._lock:
            return list(self._request_meta)

    @property
    def no_reply_count(self) -> int:
        """How many requests found the script exhausted (and got the HTTP 500)."""
        with self._lock:
            return self._no_reply

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        """TCP connections currently open on the server side."""
        httpd = self._httpd
        if httpd is None:
            return 0
        with httpd._open_lock:
            return len(httpd._open)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the server (reply functions, handler bugs)."""
        with self._lock:
            return list(self._errors)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._request_meta.clear()

    # -- used by the handler ---------------------------------------------------------------

    def _record(self, path: str, headers: dict, body: dict) -> None:
        with self._lock:
            self._requests.append(body)
            self._request_meta.append({"path": path, "headers": headers})

    def _next_reply(self) -> Any:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.default is not None:
                return self.default
            self._no_reply += 1
            return None

    def _new_call_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"call_scripted_{self._ids}"

    def _new_completion_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"chatcmpl-scripted-{self._ids}"

    def _note_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def _note_error(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        with self._lock:
            self._errors.append(exc)

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<ScriptedServer {where} remaining={self.remaining}>"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

ECHO_TEXT = "Hello from the claw_nb scripted server."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m claw_nb.testing.scripted_server",
        description="Serve scripted OpenAI-compatible chat completions on 127.0.0.1. "
        "Prints the base URL on the first line of stdout.",
    )
    p.add_argument(
        "--script",
        metavar="FILE.json",
        help="JSON list of replies: {'text': ...}, {'tool_calls': [...]}, {'error': 500}, ...",
    )
    p.add_argument(
        "--echo",
        nargs="?",
        const=ECHO_TEXT,
        default=None,
        metavar="TEXT",
        help="answer every request (after the script, if any) with this text",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    if args.script is None and args.echo is None:
        p.error("give --script FILE.json and/or --echo")

    replies: list = []
    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, list):
            p.error("the script file must hold a JSON list of replies")
        replies = [reply_from_dict(d) for d in data]
    default = text(args.echo) if args.echo is not None else None

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = ScriptedServer(replies, host=args.host, port=args.port, default=default).start()
    print(server.url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
