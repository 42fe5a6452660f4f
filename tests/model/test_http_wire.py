"""The plain-HTTP client (`claw_nb.model.http_wire`) under `HTTPTransport`, against servers on
127.0.0.1 that write exact bytes: every framing a server may use, and the broken ones."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from claw_nb.model.http_transport import HTTPTransport, StreamCut
from claw_nb.model.http_wire import MAX_HEADERS, Headers


class RawServer:
    """Accepts connections and answers each request with the next of ``replies`` (bytes);
    records every request it read (head and body)."""

    def __init__(self, replies: list[bytes], close_after: bool = False) -> None:
        self.replies = list(replies)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1/chat/completions"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                fp = conn.makefile("rb")
                while self.replies:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = fp.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    self.requests.append(head + fp.read(length))
                    conn.sendall(self.replies.pop(0))
                    if self.close_after:
                        break
                fp.close()  # the socket closes only once its file is closed too

    def close(self) -> None:
        self.sock.close()


def post(server: RawServer, body: bytes = b"{}") -> tuple[HTTPTransport, object]:
    transport = HTTPTransport(server.url, {"Content-Type": "application/json"})
    return transport, transport.post(body, 5.0, 5.0)


def sized(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def chunked(pieces: list[bytes], trailer: bytes = b"") -> bytes:
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for piece in pieces:
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n" + trailer + b"\r\n"


def test_a_sized_reply_is_read_whole_and_the_connection_is_kept_for_the_next():
    server = RawServer([sized(b'{"a": 1}'), sized(b'{"b": 2}')])
    transport, response = post(server, b'{"q": 1}')
    assert response.status == 200 and response.headers.get("content-type") == "application/json"
    assert transport.read_all(response) == b'{"a": 1}'
    second = transport.post(b"{}", 5.0, 5.0)
    assert transport.read_all(second) == b'{"b": 2}'
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert body == b'{"q": 1}'
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 8" in head and b"\r\nHost: 127.0.0.1:" in head
    assert b"\r\nAccept-Encoding: identity" in head
    transport.close()
    server.close()


def test_chunked_server_sent_events_come_line_by_line_across_chunk_borders():
    events = b'data: {"x": 1}\n\ndata: {"y": 2}\n\ndata: [DONE]\n\n'
    pieces = [events[:5], events[5:21], events[21:22], events[22:]]
    server = RawServer([chunked(pieces, trailer=b"X-Trailer: 1\r\n"), sized(b"ok")])
    transport, response = post(server)
    lines = list(transport.lines(response))
    assert lines == ['data: {"x": 1}', "", 'data: {"y": 2}', "", "data: [DONE]", ""]
    assert transport.read_all(transport.post(b"{}", 5.0, 5.0)) == b"ok"  # reused after it
    assert server.connections == 1
    server.close()


def test_a_reply_without_a_length_is_read_until_the_server_closes_and_never_reused():
    reply = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\nline two"
    server = RawServer([reply, sized(b"next")], close_after=True)
    transport, response = post(server)
    assert response.will_close
    assert list(transport.lines(response)) == ["line one", "line two"]
    assert transport.read_all(transport.post(b"{}", 5.0, 5.0)) == b"next"
    assert server.connections == 2
    server.close()


def test_interim_answers_are_skipped_and_error_statuses_keep_their_headers():
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + sized(
        b'{"error": "busy"}', "429 Too Many Requests", "Retry-After: 3\r\n"
    )
    server = RawServer([reply])
    transport, response = post(server)
    assert response.status == 429 and response.reason == "Too Many Requests"
    assert response.headers.get("Retry-After") == "3" and "retry-after" in response.headers
    assert transport.read_all(response) == b'{"error": "busy"}'
    server.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"SMTP 220 hello\r\n\r\n",
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"",
    ],
    ids=[
        "not-http",
        "bad-status",
        "bad-header",
        "many-headers",
        "long-header",
        "bad-length",
        "silent-close",
    ],
)
def test_a_response_that_breaks_the_framing_is_a_stream_cut(reply):
    server = RawServer([reply], close_after=True)
    transport = HTTPTransport(server.url, {})
    with pytest.raises(StreamCut):
        transport.post(b"{}", 5.0, 5.0)
    assert transport._conn is None  # never reused
    server.close()


@pytest.mark.parametrize(
    "body",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    ],
    ids=["bad-size", "no-crlf", "cut-chunk", "cut-body"],
)
def test_a_body_that_breaks_off_is_a_stream_cut_read_whole_or_by_line(body):
    for how in ("whole", "lines"):
        server = RawServer([body], close_after=True)
        transport, response = post(server)
        with pytest.raises(StreamCut):
            if how == "whole":
                transport.read_all(response)
            else:
                list(transport.lines(response))
        assert transport._conn is None
        server.close()


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    server = RawServer([sized(b"x")])
    transport = HTTPTransport(server.url, {"X-Bad": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="line break"):
        transport.post(b"{}", 5.0, 5.0)
    server.close()


def test_headers_are_read_by_any_case():
    headers = Headers()
    dict.__setitem__(headers, "retry-after", "2")
    assert headers.get("Retry-After") == "2" and headers["RETRY-AFTER"] == "2"
    assert "Retry-After" in headers and 3 not in headers


def test_https_still_goes_through_http_client_and_tls():
    import ssl

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_in_plain_text() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")

    threading.Thread(target=answer_in_plain_text, daemon=True).start()
    port = listener.getsockname()[1]
    transport = HTTPTransport(f"https://127.0.0.1:{port}/v1/chat/completions", {})
    with pytest.raises(ssl.SSLError):  # the TLS handshake met plain text
        transport.post(b"{}", 5.0, 5.0)
    listener.close()


def test_the_direct_model_path_imports_neither_http_client_nor_email():
    code = (
        "import sys\n"
        "from claw_nb.model.openai_compat import OpenAICompatModel\n"
        "from claw_nb.model.http_transport import HTTPTransport\n"
        "bad = [m for m in ('http.client', 'email.parser', 'ssl', 'urllib.request') "
        "if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "extra",
    [b"\r\n", sized(b'{"answer": "FAKE"}')],
    ids=["stray-crlf", "unasked-response"],
)
def test_bytes_past_a_response_are_never_read_as_the_next_one(extra):
    server = RawServer([sized(b'{"answer": 1}') + extra, sized(b'{"answer": 2}')])
    transport, response = post(server)
    assert transport.read_all(response) == b'{"answer": 1}'
    second = transport.post(b"{}", 5.0, 5.0)
    assert transport.read_all(second) == b'{"answer": 2}'
    server.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab",
        b"HTTP/1.1 \xb200 OK\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nab",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + sized(b"ab"),
    ],
    ids=["superscript-length", "superscript-status", "huge-length", "endless-interim"],
)
def test_numbers_a_server_cannot_mean_are_a_stream_cut(reply):
    server = RawServer([reply], close_after=True)
    transport = HTTPTransport(server.url, {})
    with pytest.raises(StreamCut):
        transport.read_all(transport.post(b"{}", 5.0, 5.0))
    server.close()


def test_a_huge_chunk_size_is_a_stream_cut_and_both_framings_end_the_connection():
    huge = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nab"
    server = RawServer([huge], close_after=True)
    transport, response = post(server)
    with pytest.raises(StreamCut):
        transport.read_all(response)
    server.close()
    both = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    server = RawServer([both + b"2\r\nab\r\n0\r\n\r\n", sized(b"next")])
    transport, response = post(server)
    assert response.will_close and transport.read_all(response) == b"ab"
    assert transport.read_all(transport.post(b"{}", 5.0, 5.0)) == b"next"
    assert server.connections == 2
    server.close()


def test_a_request_line_with_a_space_or_control_character_is_refused():
    server = RawServer([sized(b"x")])
    transport = HTTPTransport(server.url + "?q=a b", {})
    with pytest.raises(ValueError, match="method or path"):
        transport.post(b"{}", 5.0, 5.0)
    server.close()
