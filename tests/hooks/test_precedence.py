"""A PreToolUse hook's answer against the permission policy: deny always wins; ask asks a
person in every mode; allow only saves the question a mode would ask, never widening past a
deny rule, an ask rule, or what asks in every mode (no sandbox, protected files, the kernel)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from claw_nb.permissions import PermissionPolicy, authorize_with_hook, deny_all


@dataclass
class FakeTool:
    name: str
    kind: str


WRITE = FakeTool("write_file", "edit")
COMMAND = FakeTool("run_command", "command")
KERNEL = FakeTool("kernel_exec", "kernel")


class Approver:
    """Says `answer` and remembers what it was asked."""

    def __init__(self, answer: str = "yes") -> None:
        self.answer = answer
        self.asked: list[str] = []

    def __call__(self, request) -> str:
        self.asked.append(request.reason)
        return self.answer


def policy(mode="ask", approver=None, sandboxed=True, **rules) -> PermissionPolicy:
    p = PermissionPolicy(mode=mode, approver=approver or Approver(), sandboxed=sandboxed)
    for action, texts in rules.items():
        p.add_rules(action, texts)
    return p


def decide(p, tool, arguments, decision, reason="hook says so"):
    return authorize_with_hook(p, tool, arguments, decision, reason)


def test_hook_deny_wins_over_an_allow_rule_and_mode_auto():
    p = policy("auto", allow=["write_file"])
    auth = decide(p, WRITE, {"path": "a.py"}, "deny", "generated files are read-only")
    assert not auth.allowed
    assert auth.reason == "denied by a PreToolUse hook: generated files are read-only"


def test_hook_allow_saves_the_question_of_the_mode():
    approver = Approver("no")
    auth = decide(policy("ask", approver), WRITE, {"path": "a.py"}, "allow")
    assert auth.allowed and auth.reason == "allowed by a PreToolUse hook: hook says so"
    assert approver.asked == []


def test_hook_allow_does_not_pass_a_deny_rule():
    auth = decide(
        policy("auto", deny=["run_command(git push*)"]), COMMAND, {"command": "git push"}, "allow"
    )
    assert not auth.allowed and auth.reason == "denied by rule run_command(git push*)"


def test_hook_allow_does_not_pass_read_only_mode():
    assert not decide(policy("read-only"), WRITE, {"path": "a.py"}, "allow").allowed


@pytest.mark.parametrize(
    ("p", "tool", "arguments", "why"),
    [
        (policy("ask", ask=["write_file(src/**)"]), WRITE, {"path": "src/a.py"}, "asks by rule"),
        (policy("ask", sandboxed=False), COMMAND, {"command": "ls"}, "no OS sandbox"),
        (policy("ask"), WRITE, {"path": ".claw/settings.toml"}, "settings file"),
        (policy("ask"), WRITE, {"path": ".claude/settings.json"}, ".claude/"),
        (policy("ask"), KERNEL, {"code": "1"}, "outside the sandbox"),
    ],
    ids=["ask-rule", "unsandboxed", "claw-settings", "claude-settings", "kernel"],
)
def test_hook_allow_still_asks_what_asks_in_every_mode(p, tool, arguments, why):
    p.approver = approver = Approver("no")
    p.workspace = "/ws"
    auth = decide(p, tool, arguments, "allow")
    assert not auth.allowed
    assert len(approver.asked) == 1 and why in approver.asked[0]


def test_hook_ask_asks_a_person_even_in_mode_auto():
    approver = Approver("yes")
    auth = decide(policy("auto", approver), COMMAND, {"command": "ls"}, "ask", "touches prod")
    assert auth.allowed
    assert approver.asked == ["asks in every mode: a PreToolUse hook asks: touches prod"]


def test_hook_ask_with_nobody_to_ask_is_refused():
    auth = decide(policy("auto", deny_all), COMMAND, {"command": "ls"}, "ask")
    assert not auth.allowed and "no person to ask" in auth.reason


def test_hook_ask_does_not_pass_a_deny_rule():
    approver = Approver("yes")
    p = policy("auto", approver, deny=["run_command(rm *)"])
    assert not decide(p, COMMAND, {"command": "rm -rf x"}, "ask").allowed
    assert approver.asked == []


def test_no_hook_decision_leaves_the_policy_alone():
    approver = Approver("no")
    auth = decide(policy("ask", approver), WRITE, {"path": "a.py"}, "none")
    assert not auth.allowed and auth.reason == "asks: mode ask; denied by user"


def test_without_an_authorizer_only_the_hook_decides():
    assert authorize_with_hook(None, WRITE, {"path": "a"}, "none", None) is None
    assert authorize_with_hook(None, WRITE, {"path": "a"}, "allow", None) is None
    assert not authorize_with_hook(None, WRITE, {"path": "a"}, "deny", "x").allowed
    assert not authorize_with_hook(None, WRITE, {"path": "a"}, "ask", "x").allowed
