"""Plan mode: reads run, changes are refused, the plan goes to the user, approval goes on."""

from __future__ import annotations

import json
import subprocess

import duckdb
import pytest

import claw_nb
from claw_nb.permissions import PermissionPolicy, plan_answer
from claw_nb.testing import call, text, tool_calls
from tests.helpers import run_claw

PLAN = "1. write notes.txt with the summary"


def _options(server) -> dict:
    return {"model": "openai/scripted", "api_base": server.url, "api_key": "k", "stream": False}


def _results(server) -> list[str]:
    """The tool results the model was shown in its last request."""
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


def _planning_script(server) -> None:
    server.queue(
        tool_calls(call("read_file", {"path": "README.md"})),
        tool_calls(call("write_file", {"path": "notes.txt", "content": "early"})),
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        tool_calls(call("write_file", {"path": "notes.txt", "content": "done"})),
        text("wrote notes.txt"),
    )


class Answers:
    """An approver with one answer per request kind; remembers what it was asked."""

    def __init__(self, **answers: str) -> None:
        self.answers, self.asked = answers, []

    def __call__(self, request) -> str:
        self.asked.append(request)
        return self.answers.get(request.kind, "no")


def test_an_approved_plan_goes_on_in_accept_edits(scripted_server, workspace, tmp_path):
    (workspace / "README.md").write_text("a project\n")
    _planning_script(scripted_server)
    approver = Answers(plan="yes")
    db = tmp_path / "log.duckdb"
    with claw_nb.create_agent(
        workspace, mode="plan", approver=approver, db_path=db, **_options(scripted_server)
    ) as agent:
        result = agent.run("summarise the project into notes.txt")
        assert agent.authorize.mode == "plan"  # the shared policy is unchanged; the run's moved
    assert result.ok and (workspace / "notes.txt").read_text() == "done"
    first = scripted_server.requests[0]
    assert "plan mode" in first["messages"][-1]["content"]
    assert "exit_plan_mode" in [t["function"]["name"] for t in first["tools"]]
    shown = _results(scripted_server)
    assert "a project" in shown[0]
    assert "plan mode allows only reads" in shown[1] and "exit_plan_mode" in shown[1]
    assert "approved your plan" in shown[2]
    assert [r.kind for r in approver.asked] == ["plan"]  # the write after approval did not ask
    assert approver.asked[0].arguments == {"plan": PLAN}
    with duckdb.connect(str(db), read_only=True) as con:
        logged = con.execute(
            "SELECT arguments ->> 'plan', decision FROM tool_calls WHERE tool = 'exit_plan_mode'"
        ).fetchall()
    assert logged == [(PLAN, "plan approved by user; mode accept-edits")]


def test_a_refused_plan_sends_the_feedback_and_stays_in_plan_mode(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        tool_calls(call("write_file", {"path": "notes.txt", "content": "x"})),
        text("revising"),
    )
    approver = Answers(plan="no: add a test first")
    with claw_nb.create_agent(
        workspace, mode="plan", approver=approver, log=False, **_options(scripted_server)
    ) as agent:
        assert agent.run("plan it").ok
    shown = _results(scripted_server)
    assert (
        "did not approve the plan: add a test first" in shown[0] and "Stay in plan mode" in shown[0]
    )
    assert "plan mode allows only reads" in shown[1]
    assert not (workspace / "notes.txt").exists()


def test_without_anyone_to_ask_the_plan_is_not_approved(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("exit_plan_mode", {"plan": PLAN})), text("ok"))
    with claw_nb.create_agent(workspace, mode="plan", log=False, **_options(scripted_server)) as a:
        a.run("plan it")
    (shown,) = _results(scripted_server)
    assert "not approved: no person to ask" in shown


def test_exit_plan_mode_outside_plan_mode_is_refused(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        text("planned"),
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        text("ok"),
    )
    approver = Answers(plan="auto")
    with claw_nb.create_agent(
        workspace, mode="plan", approver=approver, log=False, **_options(scripted_server)
    ) as agent:
        agent.run("plan it")
        agent.run("go on", mode="accept-edits")
    assert "not planning (mode accept-edits)" in _results(scripted_server)[-1]
    assert len(approver.asked) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("yes", (True, "accept-edits", "")),
        ("always", (True, "accept-edits", "")),
        ("auto", (True, "auto", "")),
        ("ask", (True, "ask", "")),
        ("no", (False, "plan", "")),
        ("no: smaller steps", (False, "plan", "smaller steps")),
        ("read-only", (False, "plan", "read-only")),
        ("", (False, "plan", "")),
    ],
)
def test_plan_answers(answer, expected):
    assert plan_answer(answer) == expected


def test_plan_mode_refuses_commands_even_when_a_rule_allows_them():
    policy = PermissionPolicy.from_settings(
        {"permissions": {"allow": ["run_command(ls*)"]}}, mode="plan", sandboxed=True
    )
    action, reason = policy.decide("run_command", "command", {"command": "ls"})
    assert action == "deny" and "plan mode" in reason
    assert policy.decide("read_file", "read", {"path": "a"})[0] == "allow"


def _cli(claw_env, *args: str) -> subprocess.CompletedProcess:
    return run_claw(claw_env.workspace, *args)


def test_the_cli_plans_with_yes_and_refuses_without(claw_env):
    claw_env.server.queue(
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        tool_calls(call("write_file", {"path": "notes.txt", "content": "done"})),
        text("done"),
    )
    proc = _cli(claw_env, "--mode", "plan", "--yes", "--output-format", "json", "write notes")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stop_reason"] == "completed"
    assert (claw_env.workspace / "notes.txt").read_text() == "done"

    claw_env.server.queue(tool_calls(call("exit_plan_mode", {"plan": PLAN})), text("waiting"))
    proc = _cli(claw_env, "--mode", "plan", "again")
    assert proc.returncode == 0, proc.stderr
    assert "not approved: no person to ask" in _results(claw_env.server)[-1]
