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
* ``hold(gate, reply)`` -- answer nothing until the test sets ``gate``, then ``reply``
* ``endless_stream()`` -- stream content forever (a looping model) until the client closes it
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
import signal
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from claw_nb.testing.http import ScriptedHandler, ScriptedHTTPServer
from claw_nb.testing.replies import reply_from_dict, text

if TYPE_CHECKING:
    from typing import Self


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
        self.stop_event = threading.Event()
        # Set when a client closed an endless_stream() reply's connection; wait on it in tests.
        self.client_closed_stream = threading.Event()
        # Set when a client hung up on a reply still silent (hold(), hang(), delay()), with
        # the time it was noticed (time.perf_counter()): a stopped run closed its request.
        self.client_left = threading.Event()
        self.client_left_at: float | None = None
        self._httpd: ScriptedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self.stop_event.clear()
        self._httpd = ScriptedHTTPServer((self.host, self.port), ScriptedHandler, self)
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
        self.stop_event.set()  # wakes delay()/hang() handlers
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
        """Per request: ``{"path", "headers", "bytes", "received_at", "answered_at"}`` (times
        from ``time.perf_counter()``; same order as :attr:`requests`)."""
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
        with httpd.open_lock:
            return len(httpd.open_sockets)

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

    def record(
        self, path: str, headers: dict, body: dict, received_at: float = 0.0, size: int = 0
    ) -> dict:
        """Keep one request; the handler adds ``answered_at`` to the returned meta when done."""
        meta = {"path": path, "headers": headers, "received_at": received_at, "bytes": size}
        with self._lock:
            self._requests.append(body)
            self._request_meta.append(meta)
        return meta

    def next_reply(self) -> Any:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.default is not None:
                return self.default
            self._no_reply += 1
            return None

    def new_call_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"call_scripted_{self._ids}"

    def new_completion_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"chatcmpl-scripted-{self._ids}"

    def note_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def note_client_closed_stream(self) -> None:
        if not self.stop_event.is_set():
            self.client_closed_stream.set()

    def note_client_left(self) -> None:
        if not self.stop_event.is_set():
            with self._lock:
                self.client_left_at = time.perf_counter()
            self.client_left.set()

    def note_error(self, exc: BaseException | None) -> None:
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
        prog="python -m claw_nb.testing.server",
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
