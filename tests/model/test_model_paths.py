"""Both model paths (LiteLLM and direct httpx) against the real scripted HTTP server.

Every behaviour is tested on both, streamed and not: the direct path must keep everything the
LiteLLM path does.
"""

from __future__ import annotations

import socket
import time

import pytest

from claw_nb.config import load_config
from claw_nb.context.tokens import TokenCounter
from claw_nb.errors import (
    ConfigError,
    ContextLengthExceeded,
    ModelAuthError,
    ModelError,
    ModelInterrupted,
    ModelTimeout,
    ModelUnreachable,
)
from claw_nb.model import LiteLLMModel, OpenAICompatModel, choose_backend, make_model
from claw_nb.testing import call, cut_stream, delay, error, hang, text, tool_calls
from tests.helpers import scripted_config

BACKENDS = ["litellm", "direct"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "the file"}},
                "required": ["path"],
            },
        },
    }
]
MESSAGES = [{"role": "system", "content": "You help."}, {"role": "user", "content": "read a.py"}]


def model_for(server, workspace, backend, stream=False, sleeps=None, **options):
    config = scripted_config(
        server, workspace, stream=stream, model_backend=backend, retry_base_delay=0.01, **options
    )
    model = make_model(config)
    if sleeps is not None:
        model._sleep = sleeps.append  # record the delays instead of sleeping
    return model


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=[False, True], ids=["whole", "streamed"])
def stream(request):
    return request.param


# -- which path -------------------------------------------------------------------------------


def test_the_path_is_chosen_in_one_place(workspace):
    def chosen(**options):
        return choose_backend(load_config(workspace, **options))

    assert chosen(model="openai/qwen", api_base="http://127.0.0.1:8080/v1") == "direct"
    assert chosen(model="hosted_vllm/Qwen/Qwen3", api_base="http://127.0.0.1:8000/v1") == "direct"
    assert chosen(model="openai/gpt-4o-mini") == "litellm"  # no api_base: a cloud provider
    assert chosen(model="ollama_chat/qwen3:8b", api_base="http://127.0.0.1:11434") == "litellm"
    assert chosen(model="anthropic/claude-x", api_base="http://127.0.0.1:1") == "litellm"
    assert chosen(model="openai/qwen", api_base="http://x/v1", model_backend="litellm") == "litellm"
    assert chosen(model="openai/qwen", api_base="http://x/v1", model_backend="direct") == "direct"
    with pytest.raises(ConfigError, match="api_base"):
        chosen(model="openai/qwen", model_backend="direct")
    with pytest.raises(ConfigError, match="num_ctx"):
        chosen(model="ollama_chat/q", api_base="http://x", model_backend="direct")
    with pytest.raises(ConfigError, match="model_backend"):
        load_config(workspace, model_backend="fast")


def test_a_host_behind_an_http_proxy_goes_through_litellm(workspace, monkeypatch):
    def chosen(url):
        return choose_backend(load_config(workspace, model="openai/qwen", api_base=url))

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "gpu.lan")
    assert chosen("https://models.example.org/v1") == "litellm"
    assert chosen("http://127.0.0.1:8080/v1") == "direct"
    assert chosen("http://box.gpu.lan:8000/v1") == "direct"


def test_make_model_builds_the_chosen_path(scripted_server, workspace):
    assert isinstance(model_for(scripted_server, workspace, "direct"), OpenAICompatModel)
    assert isinstance(model_for(scripted_server, workspace, "litellm"), LiteLLMModel)


# -- replies ---------------------------------------------------------------------------------


def test_native_tool_calls_and_server_usage(scripted_server, workspace, backend, stream):
    scripted_server.queue(
        tool_calls(
            call("read_file", {"path": "a.py"}),
            content="Reading.",
            usage={"prompt_tokens": 321, "completion_tokens": 12},
        )
    )
    reply = model_for(scripted_server, workspace, backend, stream).complete(MESSAGES, TOOLS)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("read_file", {"path": "a.py"})]
    assert reply.native_tool_calls and reply.content == "Reading."
    assert (reply.prompt_tokens, reply.completion_tokens, reply.usage_source) == (321, 12, "server")
    assert reply.streamed is stream and reply.attempts == 1


def test_a_call_written_in_text_is_parsed(scripted_server, workspace, backend, stream):
    scripted_server.queue(
        text(
            'Let me look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "b.py"}}\n</tool_call>'
        )
    )
    seen: list[str] = []
    reply = model_for(scripted_server, workspace, backend, stream).complete(
        MESSAGES, TOOLS, on_text=seen.append, known_tools={"read_file": {}}
    )
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("read_file", {"path": "b.py"})]
    assert not reply.native_tool_calls
    assert "".join(seen).strip() == "Let me look."  # the markup is not shown


def test_reasoning_is_kept_apart(scripted_server, workspace, backend, stream):
    scripted_server.queue(text("42", reasoning="six times seven"))
    reply = model_for(scripted_server, workspace, backend, stream).complete(MESSAGES, [])
    assert reply.content == "42" and reply.reasoning == "six times seven"


def test_without_server_usage_tokens_are_counted_with_the_tool_schemas(
    scripted_server, workspace, backend, stream
):
    scripted_server.queue(text("done", usage=None), text("done", usage=None))
    model = model_for(scripted_server, workspace, backend, stream)
    with_tools = model.complete(MESSAGES, TOOLS)
    without = model.complete(MESSAGES, [])
    counter = TokenCounter("openai/scripted")
    assert with_tools.usage_source == "counted"  # never LiteLLM's own estimate as "server"
    assert with_tools.prompt_tokens == counter.request(MESSAGES, TOOLS)
    assert with_tools.prompt_tokens - without.prompt_tokens >= counter.tools(TOOLS) > 40
    assert with_tools.completion_tokens == counter.text("done")


def test_tool_choice_and_temperature_are_sent_and_logged(scripted_server, workspace, backend):
    scripted_server.queue(text("a"), text("b"), text("c"))
    model = model_for(scripted_server, workspace, backend)
    reply = model.complete(MESSAGES, TOOLS)
    model.complete(MESSAGES, [])
    first, second = scripted_server.requests[:2]
    assert first["tool_choice"] == "auto" and first["temperature"] == 0.2
    assert "tool_choice" not in second and "tools" not in second
    assert reply.params == {"temperature": 0.2, "tool_choice": "auto"}
    quiet = model_for(scripted_server, workspace, backend, temperature="server", tool_choice="omit")
    assert quiet.complete(MESSAGES, TOOLS).params == {}
    third = scripted_server.requests[2]
    assert "tool_choice" not in third and "temperature" not in third
    assert all("max_tokens" not in r for r in scripted_server.requests), "unset: server's limit"


def test_a_reply_cap_is_sent_and_logged(scripted_server, workspace, backend):
    scripted_server.queue(text("short"))
    reply = model_for(scripted_server, workspace, backend, max_tokens=819).complete(MESSAGES, TOOLS)
    assert scripted_server.requests[0]["max_tokens"] == 819
    assert reply.params["max_tokens"] == 819


# -- faults ----------------------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff_and_retry_after(
    scripted_server, workspace, backend, stream
):
    scripted_server.queue(error(503), error(429, headers={"Retry-After": "2"}), text("fine"))
    sleeps: list[float] = []
    retries: list[int] = []
    reply = model_for(scripted_server, workspace, backend, stream, sleeps).complete(
        MESSAGES, TOOLS, on_retry=lambda n, d, why: retries.append(n)
    )
    assert reply.content == "fine" and reply.attempts == 3
    assert sleeps == [0.01, 2.0] and retries == [1, 2]


def test_a_stream_cut_midway_is_retried(scripted_server, workspace, backend):
    scripted_server.queue(cut_stream("half an ans"), text("whole answer"))
    reply = model_for(scripted_server, workspace, backend, stream=True, sleeps=[]).complete(
        MESSAGES, TOOLS
    )
    assert reply.content == "whole answer" and reply.attempts == 2


def test_a_stream_with_tools_that_breaks_is_asked_again_whole(scripted_server, workspace, backend):
    # What llama-cpp-python's server does: a stream with tools ends before any text.
    scripted_server.queue(cut_stream(""), text("whole answer"), text("again whole"))
    model = model_for(scripted_server, workspace, backend, stream=True, sleeps=[])
    retries: list[str] = []
    reply = model.complete(MESSAGES, TOOLS, on_retry=lambda n, d, why: retries.append(why))
    assert reply.content == "whole answer" and reply.attempts == 2 and not reply.streamed
    assert "whole reply instead of a stream" in retries[0]
    assert [r.get("stream", False) for r in scripted_server.requests] == [True, False]
    assert model.complete(MESSAGES, TOOLS).attempts == 1, "kept for the session"
    assert scripted_server.requests[2].get("stream", False) is False


def test_a_failed_fallback_says_how_many_requests_it_made(scripted_server, workspace, backend):
    scripted_server.queue(
        cut_stream(""),
        error(400, "maximum context length is 4096 tokens", code="context_length_exceeded"),
    )
    model = model_for(scripted_server, workspace, backend, stream=True, sleeps=[])
    with pytest.raises(ContextLengthExceeded) as caught:
        model.complete(MESSAGES, TOOLS)
    assert (caught.value.attempts, caught.value.streamed) == (2, False)
    assert len(scripted_server.requests) == 2


def test_retries_end_with_a_model_error(scripted_server, workspace, backend):
    scripted_server.queue(*[error(500)] * 3)
    model = model_for(scripted_server, workspace, backend, sleeps=[], max_retries=2)
    with pytest.raises(ModelError, match="after 3 attempts"):
        model.complete(MESSAGES, TOOLS)


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (
            error(
                400,
                "This model's maximum context length is 4096 tokens. However, you "
                "requested 5000 tokens",
                code="context_length_exceeded",
            ),
            ContextLengthExceeded,
            "context window",
        ),
        (error(401, "bad key"), ModelAuthError, "refused the API key"),
        (error(404, "no such model"), ModelError, "not found"),
        (error(422, "tools must be a list"), ModelError, "rejected the request"),
    ],
)
def test_faults_the_user_must_fix_are_not_retried(
    scripted_server, workspace, backend, reply, kind, words
):
    scripted_server.queue(reply, text("never"))
    with pytest.raises(kind, match=words):
        model_for(scripted_server, workspace, backend, sleeps=[]).complete(MESSAGES, TOOLS)
    assert len(scripted_server.requests) == 1


def test_an_unreachable_server_is_named_with_how_to_start_one(workspace, backend):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = load_config(
        workspace,
        model="openai/x",
        api_base=f"http://127.0.0.1:{port}/v1",
        api_key="k",
        model_backend=backend,
        stream=False,
    )
    with pytest.raises(ModelUnreachable, match=f"127.0.0.1:{port}.*start a server"):
        make_model(config).complete(MESSAGES, TOOLS)


def test_a_silent_stream_ends_with_a_model_timeout(scripted_server, workspace, backend, time_limit):
    scripted_server.queue(hang(), text("too late"))
    model = model_for(scripted_server, workspace, backend, stream=True, stream_idle_timeout=0.5)
    started = time.monotonic()
    with time_limit(20), pytest.raises(ModelTimeout, match="stream_idle_timeout"):
        model.complete(MESSAGES, TOOLS)
    assert time.monotonic() - started < 10


def test_a_reply_past_its_total_budget_ends_with_a_model_timeout(
    scripted_server, workspace, backend, time_limit
):
    scripted_server.queue(delay(5, text("slow")), delay(5, text("slow")), text("unused"))
    model = model_for(scripted_server, workspace, backend, reply_timeout=1.0, sleeps=[])
    started = time.monotonic()
    with time_limit(20), pytest.raises(ModelTimeout, match="reply_timeout"):
        model.complete(MESSAGES, TOOLS)
    assert time.monotonic() - started < 4


def test_should_stop_cuts_a_stream_off(scripted_server, workspace, backend):
    scripted_server.queue(text("word " * 200))
    seen: list[str] = []
    model = model_for(scripted_server, workspace, backend, stream=True)
    with pytest.raises(ModelInterrupted):
        model.complete(MESSAGES, TOOLS, on_text=seen.append, should_stop=lambda: bool(seen))
    assert 0 < len("".join(seen)) < 100


def test_many_streamed_calls_in_one_process_do_not_hang(scripted_server, workspace, time_limit):
    scripted_server.default = tool_calls(call("read_file", {"path": "a.py"}))
    model = model_for(scripted_server, workspace, "direct", stream=True)
    with time_limit(60):
        for _ in range(200):
            assert model.complete(MESSAGES, TOOLS).tool_calls
    assert scripted_server.connection_count <= 2  # one kept-alive connection
