"""The library API: `claw_nb.create_agent` / `resume` and a hand-made `Agent` are safe by default."""

from __future__ import annotations

import shutil

import duckdb
import pytest

import claw_nb
from claw_nb import events as ev
from claw_nb.agent import Agent
from claw_nb.config import load_config
from claw_nb.errors import SessionNotFound
from claw_nb.testing import call, text, tool_calls
from tests.helpers import Recorder


def _options(server) -> dict:
    return {
        "model": "openai/scripted",
        "api_base": server.url,
        "api_key": "sk-test",
        "stream": False,
    }


def test_an_agent_is_given_its_model_runner_and_authorizer(scripted_server, workspace):
    """The loop wires nothing itself: `create_agent` decides the safe defaults."""
    with pytest.raises(TypeError, match="model.*runner.*authorize|missing"):
        Agent(load_config(workspace, **_options(scripted_server)))


def test_create_agent_does_not_run_commands_unapproved(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("run_command", {"command": "touch pwned"})), text("ok"))
    events = Recorder()
    with claw_nb.create_agent(
        workspace, log=False, listeners=[events], **_options(scripted_server)
    ) as agent:
        agent.run("do it")
    (finished,) = events.of(ev.ToolCallFinished)
    assert not finished.ok and finished.error_kind == "denied"
    assert not (workspace / "pwned").exists()


def test_create_agent_logs_and_closes(scripted_server, workspace, tmp_path):
    db = tmp_path / "log.duckdb"
    scripted_server.queue(text("hello"))
    with claw_nb.create_agent(workspace, db_path=db, **_options(scripted_server)) as agent:
        result = agent.run("hi")
    assert result.ok and result.final_answer == "hello"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from sessions").fetchone() == (1,)
        assert con.execute("select count(*) from llm_calls").fetchone() == (1,)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_create_agent_sandboxes_commands_when_bubblewrap_works(scripted_server, workspace):
    with claw_nb.create_agent(workspace, log=False, **_options(scripted_server)) as agent:
        assert agent.context.runner.sandboxed


def test_the_default_approver_denies_what_would_ask(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"})), text("done")
    )
    with claw_nb.create_agent(workspace, log=False, **_options(scripted_server)) as agent:
        agent.run("write")
    assert not (workspace / "a.txt").exists()


def test_per_run_mode_and_max_steps_do_not_stick(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"})),
        text("done"),
        *[tool_calls(call("list_files", {}))] * 3,
    )
    with claw_nb.create_agent(workspace, log=False, **_options(scripted_server)) as agent:
        assert agent.run("write", mode="accept-edits").ok
        assert (workspace / "a.txt").read_text() == "x"
        assert agent.authorize.mode == "ask"
        result = agent.run("loop", max_steps=2)
    assert result.stop_reason == "max_steps" and result.steps == 2


def test_resume_continues_a_session_by_id_prefix(scripted_server, workspace, tmp_path):
    db = tmp_path / "log.duckdb"
    scripted_server.queue(text("noted"), text("blue"))
    with claw_nb.create_agent(workspace, db_path=db, **_options(scripted_server)) as agent:
        agent.run("my colour is blue")
        first = agent.session_id
    with claw_nb.resume(first[:5], workspace, db_path=db, **_options(scripted_server)) as again:
        assert again.run("what colour?").final_answer == "blue"
    users = [m["content"] for m in scripted_server.requests[1]["messages"] if m["role"] == "user"]
    assert users == ["my colour is blue", "what colour?"]
    with pytest.raises(SessionNotFound, match="no session 'zzz'"):
        claw_nb.resume("zzz", workspace, db_path=db, **_options(scripted_server))


def test_a_bug_in_the_loop_is_raised_after_the_session_is_closed(
    scripted_server, workspace, monkeypatch
):
    events = Recorder()
    agent = claw_nb.create_agent(
        workspace, log=False, listeners=[events], **_options(scripted_server)
    )

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in claw_nb")

    monkeypatch.setattr(agent, "_ask_model", broken)
    with pytest.raises(RuntimeError, match="a bug in claw_nb"):
        agent.run("hi")
    (ended,) = events.of(ev.SessionEnded)
    assert ended.stop_reason == "error"


def test_a_stop_pressed_before_the_run_starts_is_not_lost(scripted_server, workspace):
    agent = claw_nb.create_agent(workspace, log=False, **_options(scripted_server))
    agent.interrupt()  # pressed while the run was still queued
    result = agent.run("hi")
    assert result.stop_reason == "interrupted" and scripted_server.requests == []
    scripted_server.queue(text("next run works"))
    assert agent.run("again").final_answer == "next run works"


def test_the_public_api_is_listed_and_lazy():
    assert {"create_agent", "resume", "ClawError", "Agent"} <= set(dir(claw_nb))


def test_a_per_run_mode_never_changes_the_shared_policy_and_keeps_always_answers(
    scripted_server, workspace
):
    asked = []

    def approver(request):
        asked.append(request.tool)
        return "always"

    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "a"})),
        text("ok"),
        tool_calls(call("write_file", {"path": "a.txt", "content": "b"})),
        text("ok"),
        tool_calls(call("write_file", {"path": "a.txt", "content": "c"})),
        text("ok"),
        tool_calls(call("write_file", {"path": "a.txt", "content": "d"})),
        text("ok"),
    )
    with claw_nb.create_agent(
        workspace, log=False, approver=approver, **_options(scripted_server)
    ) as agent:
        policy = agent.authorize
        agent.run("write", mode="read-only")  # refused in read-only, nobody asked
        assert policy.mode == "ask" and not (workspace / "a.txt").exists() and asked == []
        agent.run("write", mode="accept-edits")
        assert asked == [] and (workspace / "a.txt").read_text() == "b"
        agent.run("write again")  # mode ask: asked once, answered "always"
        assert policy.mode == "ask" and asked == ["write_file"]
        agent.run("and again")
        assert asked == ["write_file"]  # "always" was learned by the shared policy
    assert (workspace / "a.txt").read_text() == "d"
