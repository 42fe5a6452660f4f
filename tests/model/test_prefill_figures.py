"""What a server says it read and reused reaches `llm_calls`: OpenAI's `cached_tokens`,
llama.cpp's `timings`, through both model paths, whole and streamed; NULL when it says nothing."""

from __future__ import annotations

import duckdb
import pytest

import claw_nb
from claw_nb.testing import text

PATHS = [
    ("direct", False),
    ("direct", True),
    ("litellm", False),
    ("litellm", True),
]
IDS = ["direct-whole", "direct-streamed", "litellm-whole", "litellm-streamed"]
TIMINGS = {
    "prompt_n": 40,
    "cache_n": 860,
    "prompt_ms": 250.0,
    "predicted_n": 3,
    "predicted_ms": 60.0,
}
COLUMNS = "prompt_tokens, cached_tokens, prefill_tokens, prefill_s, decode_s, usage_source"


def logged(server, workspace, tmp_path, reply, backend: str, stream: bool) -> tuple:
    """The `llm_calls` figures of a one-call session answered by `reply`."""
    server.queue(reply)
    db = tmp_path / "log.duckdb"
    with claw_nb.create_agent(
        workspace,
        db_path=db,
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-test",
        model_backend=backend,
        stream=stream,
    ) as agent:
        assert agent.run("say done").ok
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT {COLUMNS} FROM llm_calls").fetchone()


@pytest.mark.parametrize("backend, stream", PATHS, ids=IDS)
def test_cached_tokens_give_the_prefill(scripted_server, workspace, tmp_path, backend, stream):
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }
    row = logged(scripted_server, workspace, tmp_path, text("done", usage=usage), backend, stream)
    assert row == (1200, 1000, 200, None, None, "server")


@pytest.mark.parametrize("backend, stream", PATHS, ids=IDS)
def test_llama_cpp_timings_give_tokens_read_and_seconds(
    scripted_server, workspace, tmp_path, backend, stream
):
    usage = {"prompt_tokens": 900, "completion_tokens": 3}
    reply = text("done", usage=usage, timings=TIMINGS)
    row = logged(scripted_server, workspace, tmp_path, reply, backend, stream)
    if backend == "litellm" and stream:  # LiteLLM 1.106 drops `timings` from stream chunks
        assert row == (900, None, None, None, None, "server")
    else:
        assert row == (900, 860, 40, 0.25, 0.06, "server")


def test_a_stream_with_timings_and_no_usage_keeps_the_timings(scripted_server, workspace, tmp_path):
    """llama-cpp-python's stream (through claw_nb's embedded server): no usage, timings last."""
    reply = text("done", usage=None, timings=TIMINGS)
    row = logged(scripted_server, workspace, tmp_path, reply, "direct", True)
    assert row[1:] == (860, 40, 0.25, 0.06, "counted")


@pytest.mark.parametrize("backend, stream", PATHS, ids=IDS)
def test_a_server_that_says_nothing_leaves_them_null(
    scripted_server, workspace, tmp_path, backend, stream
):
    row = logged(scripted_server, workspace, tmp_path, text("done"), backend, stream)
    assert row[1:5] == (None, None, None, None)


def test_unset_or_garbled_timings_are_ignored():
    from claw_nb.model.reply import ModelReply, apply_server_timings

    reply = ModelReply("", [], False, "stop", 100, 1, "server", 1.0, None, 1, False)
    apply_server_timings(reply, {"prompt_n": -1, "cache_n": "many", "prompt_ms": float("nan")})
    assert (reply.prefill_tokens, reply.cached_tokens, reply.prefill_s) == (None, None, None)
    apply_server_timings(reply, "not a dict")
    assert reply.decode_s is None
