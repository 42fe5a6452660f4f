"""Permission modes and rules: every mode/kind combination, rule precedence, approvals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from claw_nb.permission_rules import Rule
from claw_nb.permissions import MODES, PermissionPolicy, PermissionSettingsError
from claw_nb.tools.base import ToolContext, tool

READ = SimpleNamespace(name="read_file", kind="read")
WRITE = SimpleNamespace(name="write_file", kind="edit")
EDIT = SimpleNamespace(name="edit_file", kind="edit")
COMMAND = SimpleNamespace(name="run_command", kind="command")
META = SimpleNamespace(name="todo_write", kind="meta")

# (mode, tool, expected decision before asking anyone)
MATRIX = [
    ("ask", READ, "allow"),
    ("ask", WRITE, "ask"),
    ("ask", COMMAND, "ask"),
    ("ask", META, "allow"),
    ("accept-edits", READ, "allow"),
    ("accept-edits", WRITE, "allow"),
    ("accept-edits", COMMAND, "ask"),
    ("accept-edits", META, "allow"),
    ("auto", READ, "allow"),
    ("auto", WRITE, "allow"),
    ("auto", COMMAND, "allow"),
    ("auto", META, "allow"),
    ("read-only", READ, "allow"),
    ("read-only", WRITE, "deny"),
    ("read-only", COMMAND, "deny"),
    ("read-only", META, "allow"),
]


def args_for(tool):
    return {"command": "ls"} if tool.kind == "command" else {"path": "src/a.py"}


@pytest.mark.parametrize("mode,tool,expected", MATRIX, ids=[f"{m}-{t.name}" for m, t, _ in MATRIX])
def test_mode_decides_each_kind_of_tool(mode, tool, expected):
    action, reason = PermissionPolicy(mode=mode).decide(tool.name, tool.kind, args_for(tool))
    assert action == expected, reason


@pytest.mark.parametrize("mode", MODES)
def test_deny_rule_wins_in_every_mode(mode):
    policy = PermissionPolicy(mode=mode)
    policy.add_rules("allow", ["run_command(git *)"])
    policy.add_rules("deny", ["run_command(git push*)"])
    action, reason = policy.decide("run_command", "command", {"command": "git push origin main"})
    assert action == "deny" and "git push*" in reason


@pytest.mark.parametrize("mode", ["ask", "accept-edits", "auto"])
def test_ask_rule_beats_allow_rule(mode):
    policy = PermissionPolicy(mode=mode)
    policy.add_rules("allow", ["edit_file"])
    policy.add_rules("ask", ["edit_file(secrets/**)"])
    assert policy.decide("edit_file", "edit", {"path": "secrets/a/b.txt"})[0] == "ask"
    assert policy.decide("edit_file", "edit", {"path": "src/b.txt"})[0] == "allow"


def test_allow_rule_lets_a_command_pass_in_ask_mode():
    policy = PermissionPolicy(mode="ask")
    policy.add_rules("allow", ["run_command(pytest*)"])
    assert policy.decide("run_command", "command", {"command": "pytest -q"}) == (
        "allow",
        "allowed by rule run_command(pytest*)",
    )
    assert policy.decide("run_command", "command", {"command": "python x.py"})[0] == "ask"


@pytest.mark.parametrize(
    "path", [".git/config", "./.git/hooks/pre-commit", ".claw/settings.toml", "sub/.git/HEAD"]
)
@pytest.mark.parametrize("mode", ["ask", "accept-edits"])
def test_writes_to_git_and_claw_dirs_always_ask(mode, path):
    policy = PermissionPolicy(mode=mode)
    policy.add_rules("allow", ["write_file"])
    assert policy.decide("write_file", "edit", {"path": path})[0] == "ask"


def test_writes_to_git_metadata_ask_even_in_auto_mode():
    assert (
        PermissionPolicy(mode="auto").decide("write_file", "edit", {"path": ".git/x"})[0] == "ask"
    )


def test_absolute_path_inside_workspace_is_seen_as_protected():
    policy = PermissionPolicy(mode="accept-edits", workspace="/ws")
    assert policy.decide("write_file", "edit", {"path": "/ws/.git/config"})[0] == "ask"


def test_without_a_sandbox_auto_mode_still_asks_for_commands():
    policy = PermissionPolicy(mode="auto", sandboxed=False)
    action, reason = policy.decide("run_command", "command", {"command": "ls"})
    assert action == "ask" and "sandbox" in reason
    policy.add_rules("allow", ["run_command(ls*)"])  # an allow rule does not beat "no sandbox"
    assert policy.decide("run_command", "command", {"command": "ls"})[0] == "ask"


@pytest.mark.parametrize("answer,allowed", [("yes", True), ("no", False), ("always", True)])
def test_approver_answer_decides_and_is_recorded(answer, allowed):
    asked = []
    policy = PermissionPolicy(mode="ask", approver=lambda req: asked.append(req) or answer)
    auth = policy(COMMAND, {"command": "make test"})
    assert auth.allowed is allowed
    assert asked[0].tool == "run_command" and asked[0].arguments == {"command": "make test"}
    assert ("approved" if allowed else "denied") in auth.reason


def test_always_adds_the_rule_it_offered_so_the_same_target_does_not_ask_again():
    asked = []
    policy = PermissionPolicy(mode="ask", approver=lambda req: asked.append(req) or "always")
    policy(COMMAND, {"command": "cargo test"})
    assert asked[0].offer == "run_command(cargo test *)"
    assert str(policy.rules[-1]) == "run_command(cargo test *)"
    assert policy.rules[-1].origin == "conversation"
    assert policy(COMMAND, {"command": "cargo test --all"}).allowed
    assert len(asked) == 1
    assert policy.decide("run_command", "command", {"command": "cargo build"})[0] == "ask"


def test_settings_table_gives_mode_and_rules():
    policy = PermissionPolicy.from_settings(
        {
            "permissions": {
                "mode": "accept-edits",
                "allow": ["run_command(pytest*)"],
                "deny": "run_command(curl*)",
            }
        }
    )
    assert policy.mode == "accept-edits"
    assert [str(r) for r in policy.rules] == ["run_command(pytest*)", "run_command(curl*)"]
    assert PermissionPolicy.from_settings({}, mode="auto").mode == "auto"


def test_bad_mode_and_bad_rule_are_one_line_errors():
    with pytest.raises(PermissionSettingsError, match="unknown permission mode 'yolo'"):
        PermissionPolicy(mode="yolo")
    with pytest.raises(PermissionSettingsError, match="TOOL\\(PATTERN\\)"):
        Rule.parse("allow", "run_command(")


def test_path_patterns_use_double_star_for_depth():
    rule = Rule.parse("allow", "edit_file(src/**/*.py)")
    assert rule.matches("edit_file", {"path": "src/a.py"})
    assert rule.matches("edit_file", {"path": "./src/x/y/a.py"})
    assert not rule.matches("edit_file", {"path": "tests/a.py"})
    assert not Rule.parse("allow", "edit_file(src/*.py)").matches(
        "edit_file", {"path": "src/x/a.py"}
    )


@pytest.mark.parametrize("mode", ["ask", "accept-edits", "auto"])
def test_the_settings_file_asks_even_in_auto_mode(mode):
    """An agent that could rewrite .claw/settings.toml could widen its own sandbox."""
    policy = PermissionPolicy(mode=mode)
    policy.add_rules("allow", ["write_file"])
    assert policy.decide("write_file", "edit", {"path": ".claw/settings.toml"})[0] == "ask"


def test_tools_declare_the_argument_rules_match():
    from claw_nb.tools import default_tools

    tools = {t.name: t for t in default_tools()}
    assert tools["run_command"].primary_argument == "command"
    assert tools["grep"].primary_argument == "path"
    assert tools["write_file"].primary_argument == "path"


def test_a_rule_on_a_tool_nobody_listed_matches_its_declared_argument():
    @tool("edit", name="rename_symbol")
    def rename_symbol(ctx: ToolContext, symbol: str, new_name: str) -> str:
        """Rename a symbol.

        Args:
            symbol: The symbol to rename.
            new_name: Its new name.
        """
        return "ok"

    assert rename_symbol.primary_argument == "symbol"
    policy = PermissionPolicy(
        mode="accept-edits", rules=[Rule.parse("deny", "rename_symbol(Secret*)")]
    )
    assert not policy(rename_symbol, {"symbol": "SecretKey", "new_name": "x"}).allowed
    assert policy(rename_symbol, {"symbol": "helper", "new_name": "x"}).allowed
