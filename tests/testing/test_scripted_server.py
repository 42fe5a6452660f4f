"""The scripted server, exercised raw (http.client) and through the real LiteLLM path.

The LiteLLM tests pin down which exception class each fault turns into -- the agent's retry
logic depends on it. Findings (litellm 1.106.2, ``openai/`` prefix, ``max_retries=0``):

* HTTP 500                          -> litellm.InternalServerError
* HTTP 503                          -> litellm.ServiceUnavailableError
* HTTP 429                          -> litellm.RateLimitError
* HTTP 400 "maximum context length" -> litellm.ContextWindowExceededError (a BadRequestError)
* HTTP 400 other                    -> litellm.BadRequestError
* connection closed, no response    -> litellm.InternalServerError ("Connection error.")
* stream cut midway                 -> litellm.exceptions.MidStreamFallbackError (a
  ServiceUnavailableError, *not* an APIConnectionError), raised while iterating;
  ``.original_exception`` is a litellm.APIConnectionError
* client timeout                    -> litellm.Timeout (an openai.APITimeoutError)

Without ``max_retries=0`` the ``openai/`` path lets the OpenAI SDK retry 5xx / 429 /
connection errors twice more with backoff (~0.4-0.9 s each); ``hosted_vllm/`` does not retry.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from claw_nb.testing import (
    NO_REPLY_MESSAGE,
    ScriptedServer,
    call,
    cut_stream,
    delay,
    error,
    hang,
    reply_from_dict,
    text,
    tool_calls,
)

REPO = Path(__file__).resolve().parents[2]

MESSAGES = [{"role": "user", "content": "Please read a.py"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def litellm():
    import litellm as _litellm

    _litellm.suppress_debug_info = True
    return _litellm


def complete(litellm, server, **kw):
    args = {
        "model": "openai/scripted",
        "api_base": server.url,
        "api_key": "x",
        "messages": MESSAGES,
        "tools": TOOLS,
        "_skip_mcp_handler": True,
    }
    args.update(kw)
    return litellm.completion(**args)


def consume(stream) -> list:
    try:
        return list(stream)
    finally:
        close = getattr(getattr(stream, "completion_stream", None), "close", None)
        if close is not None:
            close()


# --------------------------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------------------------


def _post(conn: http.client.HTTPConnection, body: dict) -> tuple[int, dict, bytes]:
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


def _conn(server: ScriptedServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def test_import_does_not_pull_in_litellm():
    code = "import sys, claw_nb.testing.server; sys.exit(1 if 'litellm' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


def test_url_models_and_404(scripted_server):
    assert scripted_server.url == f"http://127.0.0.1:{scripted_server.port}/v1"
    with urllib.request.urlopen(scripted_server.url + "/models", timeout=5) as r:
        models = json.load(r)
    assert [m["id"] for m in models["data"]] == ["scripted"]
    conn = _conn(scripted_server)
    conn.request("GET", "/v1/nope")
    resp = conn.getresponse()
    assert resp.status == 404 and "error" in json.loads(resp.read())


def test_exhausted_script_is_a_loud_500(scripted_server):
    status, _, body = _post(_conn(scripted_server), {"messages": MESSAGES})
    assert status == 500
    assert json.loads(body)["error"]["message"] == NO_REPLY_MESSAGE
    assert scripted_server.no_reply_count == 1
    assert scripted_server.requests == [{"messages": MESSAGES}]


def test_keep_alive_and_no_nagle_stall(scripted_server):
    """50 calls on one connection (mixed plain/streamed) stay well under 44 ms each."""
    n = 50
    scripted_server.queue(*[text(f"reply {i}") for i in range(n)])
    conn = _conn(scripted_server)
    start = time.perf_counter()
    for i in range(n):
        status, headers, body = _post(conn, {"messages": MESSAGES, "stream": i % 2 == 1})
        assert status == 200
        if i % 2:
            assert headers["Transfer-Encoding"] == "chunked"
            assert body.rstrip().endswith(b"data: [DONE]")
        else:
            assert json.loads(body)["choices"][0]["message"]["content"] == f"reply {i}"
    per_call = (time.perf_counter() - start) / n
    assert scripted_server.connection_count == 1
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms per call: Nagle stall?"


def test_stream_wire_format(scripted_server):
    scripted_server.queue(
        tool_calls(call("read_file", {"path": "some/long/file/name.py"}), content="Let me look.")
    )
    conn = _conn(scripted_server)
    _, _, body = _post(conn, {"messages": MESSAGES, "stream": True})
    events = [line[len("data: ") :] for line in body.decode().split("\n\n") if line]
    assert events[-1] == "data: [DONE]"[len("data: ") :]
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    tc_deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    first, rest = tc_deltas[0], tc_deltas[1:]
    assert first["function"] == {"name": "read_file", "arguments": ""} and first["id"]
    assert len(rest) > 2 and all(set(d) == {"index", "function"} for d in rest)
    assert json.loads("".join(d["function"]["arguments"] for d in rest)) == {
        "path": "some/long/file/name.py"
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_reply_forms_callable_dict_and_str(scripted_server):
    seen = []

    def dynamic(body):
        seen.append(body)
        return text(f"n={len(body['messages'])}")

    scripted_server.queue(dynamic, "plain string", {"error": 418, "message": "teapot"})
    conn = _conn(scripted_server)
    _, _, b1 = _post(conn, {"messages": MESSAGES * 3})
    _, _, b2 = _post(conn, {"messages": MESSAGES})
    s3, _, b3 = _post(conn, {"messages": MESSAGES})
    assert json.loads(b1)["choices"][0]["message"]["content"] == "n=3"
    assert seen == [{"messages": MESSAGES * 3}]
    assert json.loads(b2)["choices"][0]["message"]["content"] == "plain string"
    assert s3 == 418 and json.loads(b3)["error"]["message"] == "teapot"
    assert scripted_server.remaining == 0


def test_reply_from_dict_forms():
    assert reply_from_dict({"text": "hi", "usage": None}) == text("hi", usage=None)
    r = reply_from_dict({"tool_calls": [{"name": "f", "arguments": {"a": 1}, "id": "c1"}]})
    assert r == tool_calls(call("f", {"a": 1}, id="c1"))
    assert reply_from_dict({"error": 429, "headers": {"Retry-After": "0"}}) == error(
        429, headers={"Retry-After": "0"}
    )
    assert reply_from_dict({"cut_stream": "ab"}) == cut_stream("ab")
    assert reply_from_dict({"delay": 0.5, "reply": {"text": "x"}}) == delay(0.5, text("x"))
    assert reply_from_dict({"hang": True}) == hang()
    with pytest.raises(ValueError):
        reply_from_dict({"bogus": 1})


def test_stop_does_not_wait_for_hanging_request(time_limit):
    server = ScriptedServer([hang()]).start()
    conn = _conn(server)
    conn.request("POST", "/v1/chat/completions", body=json.dumps({"messages": MESSAGES}))
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    with time_limit(10):
        server.stop()
    assert time.perf_counter() - start < 2
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.getresponse()


# --------------------------------------------------------------------------------------------
# Through LiteLLM
# --------------------------------------------------------------------------------------------


def test_litellm_text_with_usage_and_reasoning(litellm, scripted_server):
    scripted_server.queue(text("Hello there.", reasoning="thinking..."))
    r = complete(litellm, scripted_server)
    msg = r.choices[0].message
    assert msg.content == "Hello there."
    assert msg.reasoning_content == "thinking..."
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    req = scripted_server.requests[0]
    assert req["messages"] == MESSAGES and req["tools"][0]["function"]["name"] == "read_file"


def test_litellm_usage_given_and_absent(litellm, scripted_server):
    scripted_server.queue(
        text("a", usage={"prompt_tokens": 11, "completion_tokens": 2}), text("b", usage=None)
    )
    r = complete(litellm, scripted_server)
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (11, 2, 13)
    r = complete(litellm, scripted_server)
    # LiteLLM fills in an all-zero Usage when the server sends none: "absent" means total 0.
    assert r.usage.total_tokens == 0


def test_litellm_streamed_text(litellm, scripted_server):
    content = "The quick brown fox jumps over the lazy dog."
    scripted_server.queue(text(content, usage={"prompt_tokens": 9, "completion_tokens": 4}))
    chunks = consume(
        complete(litellm, scripted_server, stream=True, stream_options={"include_usage": True})
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta]
    assert len([d for d in deltas if d]) >= 5
    assert "".join(d or "" for d in deltas) == content
    assert chunks[-1].usage.prompt_tokens == 9
    built = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    assert built.choices[0].message.content == content
    assert built.choices[0].finish_reason == "stop"


def test_litellm_tool_calls_non_streaming(litellm, scripted_server):
    scripted_server.queue(
        tool_calls(
            call("read_file", {"path": "a.py"}, id="call_1"),
            call("read_file", '{"path": "b.py"', id="call_2"),
        )
    )
    r = complete(litellm, scripted_server)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    assert [c.id for c in calls] == ["call_1", "call_2"]
    assert json.loads(calls[0].function.arguments) == {"path": "a.py"}
    assert calls[1].function.arguments == '{"path": "b.py"'  # malformed, sent verbatim


def test_litellm_tool_calls_streaming_merge(litellm, scripted_server):
    args = {"path": "src/package/module.py", "offset": 10, "limit": 200}
    scripted_server.queue(
        tool_calls(call("read_file", args), call("read_file", "{oops"), content="Reading.")
    )
    chunks = consume(complete(litellm, scripted_server, stream=True))
    built = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    msg = built.choices[0].message
    assert msg.content == "Reading."
    assert [c.function.name for c in msg.tool_calls] == ["read_file", "read_file"]
    assert json.loads(msg.tool_calls[0].function.arguments) == args
    assert msg.tool_calls[1].function.arguments == "{oops"
    assert all(c.id.startswith("call_") for c in msg.tool_calls)
    assert built.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_litellm_error_classes(litellm, scripted_server, stream):
    from litellm.exceptions import (
        BadRequestError,
        ContextWindowExceededError,
        InternalServerError,
        RateLimitError,
        ServiceUnavailableError,
    )

    cases = [
        (error(500), InternalServerError),
        (error(503), ServiceUnavailableError),
        (error(429, headers={"Retry-After": "0"}), RateLimitError),
        (
            error(
                400,
                message="This model's maximum context length is 4096 tokens. However, "
                "you requested 5000 tokens.",
                code="context_length_exceeded",
            ),
            ContextWindowExceededError,
        ),
        (error(400, message="unsupported parameter"), BadRequestError),
    ]
    for reply, cls in cases:
        scripted_server.queue(reply)
        before = len(scripted_server.requests)
        with pytest.raises(Exception) as info:
            consume(complete(litellm, scripted_server, stream=stream, max_retries=0))
        assert type(info.value) is cls, (reply, type(info.value))
        assert len(scripted_server.requests) == before + 1
    assert issubclass(ContextWindowExceededError, BadRequestError)


def test_litellm_openai_prefix_retries_5xx_by_default(litellm, scripted_server):
    scripted_server.queue(error(500), text("second time lucky"))
    r = complete(litellm, scripted_server)
    assert r.choices[0].message.content == "second time lucky"
    assert len(scripted_server.requests) == 2


def test_litellm_cut_stream_raises_midstream(litellm, scripted_server):
    from litellm.exceptions import APIConnectionError, MidStreamFallbackError

    scripted_server.queue(cut_stream("Partial answer that gets cut"))
    got = []
    with pytest.raises(MidStreamFallbackError) as info:
        for chunk in complete(litellm, scripted_server, stream=True, max_retries=0):
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert "".join(got) == "Partial answer that gets cut"
    assert isinstance(info.value.original_exception, APIConnectionError)
    assert not isinstance(info.value, APIConnectionError)


def test_litellm_cut_without_response(litellm, scripted_server):
    from litellm.exceptions import InternalServerError

    scripted_server.queue(cut_stream())
    with pytest.raises(InternalServerError, match="Connection error"):
        complete(litellm, scripted_server, max_retries=0)


@pytest.mark.parametrize("reply", [delay(5, text("too late")), hang()], ids=["delay", "hang"])
def test_litellm_timeout(litellm, scripted_server, time_limit, reply):
    scripted_server.queue(reply)
    start = time.perf_counter()
    with time_limit(20), pytest.raises(litellm.Timeout):
        complete(litellm, scripted_server, timeout=0.5, max_retries=0)
    assert time.perf_counter() - start < 3


def test_litellm_short_delay_then_reply(litellm, scripted_server):
    scripted_server.queue(delay(0.2, text("on time")))
    start = time.perf_counter()
    r = complete(litellm, scripted_server, timeout=5)
    assert r.choices[0].message.content == "on time"
    assert time.perf_counter() - start >= 0.2


def test_litellm_many_streamed_calls_do_not_hang(litellm, scripted_server, time_limit):
    n = 300
    scripted_server.queue(
        *[
            text(f"answer number {i}, a little longer than one chunk")
            if i % 2
            else tool_calls(call("read_file", {"path": f"f{i}.py"}))
            for i in range(n)
        ]
    )
    start = time.perf_counter()
    with time_limit(120):
        for i in range(n):
            chunks = consume(
                complete(litellm, scripted_server, stream=True, timeout=10, max_retries=0)
            )
            msg = litellm.stream_chunk_builder(chunks, messages=MESSAGES).choices[0].message
            if i % 2:
                assert msg.content.startswith(f"answer number {i},")
            else:
                assert json.loads(msg.tool_calls[0].function.arguments) == {"path": f"f{i}.py"}
    elapsed = time.perf_counter() - start
    assert scripted_server.remaining == 0 and scripted_server.no_reply_count == 0
    assert scripted_server.errors == []
    # The OpenAI SDK stops reading at [DONE] and drops the connection, so each streamed call
    # opens a new one; they must all be closed again, not pile up.
    time.sleep(0.2)
    assert scripted_server.open_connections <= 1
    print(
        f"\n{n} streamed litellm calls: {elapsed / n * 1000:.1f} ms/call, "
        f"{scripted_server.connection_count} connections"
    )


def test_litellm_hosted_vllm_prefix(litellm, scripted_server):
    scripted_server.queue(tool_calls(call("read_file", {"path": "x.py"})))
    r = complete(litellm, scripted_server, model="hosted_vllm/scripted")
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"path": "x.py"}
    assert scripted_server.requests[0]["model"] == "scripted"


def test_claw_env(claw_env):
    assert os.environ["CLAW_API_BASE"] == claw_env.server.url
    assert os.environ["CLAW_MODEL"] == "openai/scripted"
    assert os.environ["CLAW_DB"] == str(claw_env.db)
    assert claw_env.workspace.is_dir()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _run_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "claw_nb.testing.server", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _chat(url: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + "/chat/completions",
        method="POST",
        data=json.dumps({"messages": MESSAGES}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_cli_script_and_echo(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"text": "first"},
                {"tool_calls": [{"name": "read_file", "arguments": {"path": "a"}}]},
                {"error": 500},
            ]
        )
    )
    proc = _run_cli("--script", str(script))
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert _chat(url)[1]["choices"][0]["message"]["content"] == "first"
        tc = _chat(url)[1]["choices"][0]["message"]["tool_calls"][0]
        assert tc["function"] == {"name": "read_file", "arguments": '{"path": "a"}'}
        assert _chat(url)[0] == 500
        status, body = _chat(url)
        assert status == 500 and body["error"]["message"] == NO_REPLY_MESSAGE
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    proc = _run_cli("--echo")
    try:
        url = proc.stdout.readline().strip()
        replies = {_chat(url)[1]["choices"][0]["message"]["content"] for _ in range(3)}
        assert len(replies) == 1 and replies.pop()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
