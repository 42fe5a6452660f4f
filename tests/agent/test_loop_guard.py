"""The loop guard: the same call with the same result is told on the 3rd time, stopped after."""

from __future__ import annotations

import json

import pytest

from claw_nb import events as ev
from claw_nb.errors import ModelStuck
from claw_nb.loop_guard import EMBEDDED_ADVICE, LoopGuard, advice_for
from claw_nb.testing import call, text, tool_calls
from tests.helpers import recorded_agent, scripted_config

READ = call("read_file", {"path": "notes.txt"})


def make_agent(server, workspace, **options):
    (workspace / "notes.txt").write_text("the answer is 42\n")
    return recorded_agent(scripted_config(server, workspace, **options))


def results(agent):
    return [m["content"] for m in agent.messages if m["role"] == "tool"]


def test_a_repeated_call_is_told_on_the_third_time_and_stopped_on_the_fourth(
    scripted_server, workspace
):
    scripted_server.queue(*[tool_calls(READ) for _ in range(4)], text("never reached"))
    agent, rec = make_agent(scripted_server, workspace)
    result = agent.run("what is the answer?")
    assert result.stop_reason == "stuck" and result.steps == 4
    assert "read_file" in result.error and "4 times in a row" in result.error
    told = results(agent)
    assert "3rd time in a row" in told[2] and "Do not make it again" in told[2]
    assert not any("in a row" in r for r in told[:2] + told[3:])
    assert len(told) == 4, "the fourth call ran and its result is in the history"
    assert [e.kind for e in rec.of(ev.ErrorOccurred)] == ["stuck"]
    assert rec.of(ev.SessionEnded)[-1].stop_reason == "stuck"
    assert scripted_server.remaining == 1


def test_a_model_that_heeds_the_note_goes_on(scripted_server, workspace):
    scripted_server.queue(*[tool_calls(READ) for _ in range(3)], text("The answer is 42."))
    agent, _rec = make_agent(scripted_server, workspace)
    result = agent.run("what is the answer?")
    assert result.stop_reason == "completed" and result.final_answer == "The answer is 42."


def test_a_different_call_in_between_starts_the_count_again(scripted_server, workspace):
    listing = call("list_files", {})
    script = [READ, READ, listing, READ, READ, listing, READ, READ]
    scripted_server.queue(*[tool_calls(c) for c in script], text("done"))
    agent, _rec = make_agent(scripted_server, workspace)
    assert agent.run("look around").stop_reason == "completed"
    assert not any("in a row" in r for r in results(agent))


def test_the_same_call_with_a_new_result_is_not_a_loop(scripted_server, workspace, monkeypatch):
    """Reading a file the model changed in between is progress, not a loop."""
    scripted_server.queue(
        *[tool_calls(READ) for _ in range(4)],
        text("done"),
    )
    agent, _rec = make_agent(scripted_server, workspace)
    counter = iter(range(100))
    original = agent.tools.get("read_file").func

    def read_changing(*args, **kwargs):
        (workspace / "notes.txt").write_text(f"version {next(counter)}\n")
        return original(*args, **kwargs)

    # the tool object is shared by every agent: patched for this test only (frozen dataclass)
    monkeypatch.setitem(agent.tools.get("read_file").__dict__, "func", read_changing)
    assert agent.run("watch notes.txt").stop_reason == "completed"


def test_loop_threshold_is_a_setting(scripted_server, workspace):
    scripted_server.queue(*[tool_calls(READ) for _ in range(2)], text("never reached"))
    agent, _rec = make_agent(scripted_server, workspace, loop_threshold=1)
    result = agent.run("what is the answer?")
    assert result.stop_reason == "stuck" and result.steps == 2


def test_a_new_run_starts_the_count_again(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(READ), tool_calls(READ), text("first"), tool_calls(READ), text("second")
    )
    agent, _rec = make_agent(scripted_server, workspace)
    assert agent.run("one").final_answer == "first"
    assert agent.run("two").final_answer == "second"
    assert not any("in a row" in r for r in results(agent))


def test_the_advice_for_the_embedded_model_says_what_to_do(monkeypatch):
    from claw_nb.model import embedded

    class Running:
        api_base = "http://127.0.0.1:9/v1"

    monkeypatch.setattr(embedded, "running_servers", lambda: [Running()])
    advice = advice_for("http://127.0.0.1:9/v1")
    assert advice == EMBEDDED_ADVICE
    assert "demo" in advice and "--model ollama_chat/" in advice and "claw-nb models" in advice
    assert advice_for("http://127.0.0.1:8/v1") != EMBEDDED_ADVICE


def test_arguments_in_another_key_order_are_the_same_call():
    guard = LoopGuard(2)
    guard.observe("grep", {"pattern": "x", "path": "."}, "r")
    assert "2nd time" in guard.observe("grep", json.loads('{"path": ".", "pattern": "x"}'), "r")


def test_advice_given_as_a_function_is_asked_for_only_when_the_model_is_stuck():
    asked: list[int] = []

    def advice() -> str:
        asked.append(1)
        return "say it better"

    guard = LoopGuard(2, advice)
    guard.observe("read_file", {"path": "a"}, "same")
    guard.observe("read_file", {"path": "a"}, "same")
    assert asked == []
    guard.observe("read_file", {"path": "a"}, "same")
    with pytest.raises(ModelStuck, match="say it better"):
        guard.raise_if_stuck()
    assert asked == [1]
