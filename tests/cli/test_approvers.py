"""The terminal's approval prompt: it shows the rule "always" adds, takes a reason with no,
lists and drops the rules added in the run; the printed line says which rule allowed a call."""

from __future__ import annotations

import io
from types import SimpleNamespace

from claw_nb import events as ev
from claw_nb.cli.approvers import TerminalApprover
from claw_nb.cli.printer import TextPrinter
from claw_nb.permissions import PermissionPolicy

COMMAND = SimpleNamespace(name="run_command", kind="command", primary_argument="command")


def _typing(monkeypatch, *answers):
    typed = list(answers)
    monkeypatch.setattr("builtins.input", lambda prompt: typed.pop(0))
    return typed


def test_the_prompt_shows_the_rule_always_adds(monkeypatch, capsys):
    _typing(monkeypatch, "a")
    approver = TerminalApprover()
    policy = PermissionPolicy(mode="ask", approver=approver)
    assert policy(COMMAND, {"command": "python -m pytest -q test_stats.py"}).allowed
    out = capsys.readouterr().out
    assert "[a]lways allows run_command(python -m pytest *)" in out
    exploit = "python -c \"import os; os.remove('test_stats.py')\""
    assert policy.decide("run_command", "command", {"command": exploit})[0] == "ask"


def test_no_with_a_reason_reaches_the_decision(monkeypatch):
    _typing(monkeypatch, "n  run the unit tests only ")
    policy = PermissionPolicy(mode="ask", approver=TerminalApprover())
    auth = policy(COMMAND, {"command": "make all"})
    assert not auth.allowed and auth.reason.endswith("The user says: run the unit tests only")


def test_always_is_not_offered_when_no_rule_would_stop_the_question(monkeypatch, capsys):
    typed = _typing(monkeypatch, "a", "y")
    policy = PermissionPolicy(mode="ask", sandboxed=False, approver=TerminalApprover())
    assert policy(COMMAND, {"command": "ls"}).allowed
    out = capsys.readouterr().out
    assert "[a]lways" not in out and "no rule is offered" in out
    assert typed == [] and policy.rules == []


def test_rules_at_the_prompt_lists_and_drops_what_always_added(monkeypatch, capsys):
    approver = TerminalApprover()
    policy = PermissionPolicy(mode="ask", approver=approver)
    approver.policy = policy
    _typing(monkeypatch, "a")
    policy(COMMAND, {"command": "git status"})
    _typing(monkeypatch, "r", "drop 1", "r", "n")
    policy(COMMAND, {"command": "git diff"})
    out = capsys.readouterr().out
    assert "1. run_command(git status *)" in out
    assert "dropped run_command(git status *)" in out and "no rules added in this run" in out
    assert policy.decide("run_command", "command", {"command": "git status"})[0] == "ask"


def test_the_printed_line_says_which_rule_allowed_a_call():
    out = io.StringIO()
    printer = TextPrinter(out=out, live=False)
    printer(
        ev.ToolCallFinished(
            "s", 1, "c1", "run_command", {"command": "pytest"}, "{}", ok=True, result="1 passed",
            rule="run_command(pytest *)",
        )
    )  # fmt: skip
    assert "ok in 0 ms, allowed by rule run_command(pytest *)" in out.getvalue()
