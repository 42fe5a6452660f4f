"""A stop ends a model call at once, even while the server has not sent a byte.

The scripted server holds its reply (`hold(gate, ...)`: a local model still reading a long
prompt) until the test sets the gate, which it never does before the stop: the call must end,
and the server must see the client leave, while the reply is still held.
"""

from __future__ import annotations

import threading

import pytest

from claw_nb.errors import ModelInterrupted
from claw_nb.stop import StopToken
from claw_nb.testing import hold, text
from tests.model.test_model_paths import MESSAGES, TOOLS, model_for

SAFETY = 10.0  # a bound for a hang, not the measurement: the events decide
IMPORT = 120.0  # the first LiteLLM call imports it (12-19 s on a busy machine)


class Call:
    """`model.complete` on a thread, its outcome kept."""

    def __init__(self, model, token) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.reply = None

        def run() -> None:
            try:
                self.reply = model.complete(MESSAGES, TOOLS, should_stop=token)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                self.error = exc
            finally:
                self.done.set()

        threading.Thread(target=run, daemon=True).start()


def _held(server):
    """A reply that says it arrived, then holds; (arrived event, gate)."""
    arrived, gate = threading.Event(), threading.Event()

    def reply(request):
        arrived.set()
        return hold(gate, text("too late"))

    server.queue(reply, text("the next call"))
    return arrived, gate


@pytest.mark.parametrize("backend", ["direct", "litellm"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_stop_ends_a_call_the_server_has_not_answered(
    scripted_server, workspace, backend, stream
):
    arrived, gate = _held(scripted_server)
    model = model_for(scripted_server, workspace, backend, stream=stream)
    token = StopToken()
    call = Call(model, token)
    assert arrived.wait(IMPORT)
    token.stop()
    assert call.done.wait(SAFETY)
    assert isinstance(call.error, ModelInterrupted), call.error
    assert "waiting for the model" in str(call.error)
    assert scripted_server.client_left.wait(SAFETY)  # the request's socket was closed
    assert not gate.is_set()  # all while the reply was still held
    gate.set()
    # the model works again for the next run (a cleared token)
    token.clear()
    assert model.complete(MESSAGES, TOOLS, should_stop=token).content == "the next call"
    assert len(scripted_server.requests) == 2


def test_a_token_stopped_before_the_call_sends_nothing(scripted_server, workspace):
    scripted_server.queue(text("unused"))
    model = model_for(scripted_server, workspace, "direct")
    token = StopToken()
    token.stop()
    with pytest.raises(ModelInterrupted):
        model.complete(MESSAGES, TOOLS, should_stop=token)
    assert scripted_server.requests == []


def test_a_stop_during_a_retry_backoff_ends_the_wait(scripted_server, workspace):
    from claw_nb.testing import error

    scripted_server.queue(error(503, "busy", headers={"Retry-After": "50"}), text("never"))
    model = model_for(scripted_server, workspace, "direct")
    model._sleep = __import__("time").sleep  # the real backoff, which a stop must cut short
    token = StopToken()
    retried = threading.Event()
    call_done = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            model.complete(MESSAGES, TOOLS, should_stop=token, on_retry=lambda *a: retried.set())
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)
        finally:
            call_done.set()

    threading.Thread(target=run, daemon=True).start()
    assert retried.wait(SAFETY)
    token.stop()
    assert call_done.wait(SAFETY)  # not the 50 s the server asked for
    assert isinstance(outcome[0], ModelInterrupted)
    assert len(scripted_server.requests) == 1
