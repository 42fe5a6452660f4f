"""The in-memory ScriptedModel drives the real loop, without HTTP."""

from __future__ import annotations

import inspect

import pytest

from claw_nb import events as ev
from claw_nb.config import load_config
from claw_nb.errors import ContextLengthExceeded, ModelTimeout
from claw_nb.protocols import Model
from claw_nb.testing import ScriptedModel, call, cut_stream, error, hang, text, tool_calls
from tests.helpers import Recorder, unguarded_agent


def agent_with(model, workspace):
    recorder = Recorder()
    config = load_config(workspace, model="openai/scripted")
    return unguarded_agent(config, model=model, listeners=[recorder]), recorder


def test_it_is_a_model_and_runs_the_loop(workspace):
    (workspace / "a.txt").write_text("alpha\n")
    model = ScriptedModel([tool_calls(call("read_file", {"path": "a.txt"})), text("it says alpha")])
    wanted = list(inspect.signature(Model.complete).parameters)
    assert list(inspect.signature(ScriptedModel.complete).parameters) == wanted
    agent, recorder = agent_with(model, workspace)
    result = agent.run("read a.txt")
    assert result.ok and result.final_answer == "it says alpha"
    assert "alpha" in recorder.of(ev.ToolCallFinished)[0].result
    assert model.requests[1]["messages"][-1]["role"] == "tool"
    assert model.remaining == 0


def test_calls_written_in_text_are_parsed_like_a_real_reply(workspace):
    (workspace / "b.txt").write_text("beta\n")
    model = ScriptedModel(
        [
            text('<tool_call>{"name": "read_file", "arguments": {"path": "b.txt"}}</tool_call>'),
            text("done"),
        ]
    )
    agent, recorder = agent_with(model, workspace)
    assert agent.run("go").ok
    assert recorder.of(ev.ToolCallFinished)[0].ok


def test_transient_faults_are_retried_and_reported(workspace):
    model = ScriptedModel([error(503), cut_stream(), text("fine")])
    agent, recorder = agent_with(model, workspace)
    assert agent.run("go").final_answer == "fine"
    assert [e.kind for e in recorder.of(ev.ErrorOccurred)] == ["retry", "retry"]
    assert recorder.of(ev.ModelCallFinished)[0].attempts == 3


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (error(400, "maximum context length is 4096 tokens"), ContextLengthExceeded),
        (hang(), ModelTimeout),
    ],
)
def test_fatal_replies_raise_what_the_real_path_raises(reply, kind):
    with pytest.raises(kind):
        ScriptedModel([reply]).complete([{"role": "user", "content": "x"}], [])


def test_an_exhausted_script_stops_the_run_with_a_model_error(workspace):
    agent, _ = agent_with(ScriptedModel([tool_calls(call("list_files", {}))]), workspace)
    result = agent.run("go")
    assert result.stop_reason == "model_error" and "no reply left" in result.error
