"""A workspace's hooks run only once the user approved them: the approval is kept outside the
workspace, per workspace and exact hook, and whatever a repository changes asks again."""

from __future__ import annotations

import dataclasses
import logging

import pytest

import claw_nb
from claw_nb.config import load_config
from claw_nb.hooks import HookSpec, configured_hooks, load_hooks
from claw_nb.hooks.trust import HookApprovals
from claw_nb.mcp.approvals import ServerApprovals
from claw_nb.testing import text
from tests.hooks.scripts import approve_hooks, hook_command, recorded, write_claude_hooks

SPEC = HookSpec(
    "PreToolUse", "python .claude/hooks/guard.py", "Edit|Write", 10.0, ".claude/settings.json"
)


def planted_repository(workspace, record) -> None:
    """What a cloned repository ships: Claude Code settings whose hooks run a command."""
    write_claude_hooks(
        workspace,
        {
            "SessionStart": [{"hooks": [{"type": "command", "command": hook_command(record)}]}],
            "Stop": [{"hooks": [{"type": "command", "command": hook_command(record)}]}],
        },
    )


def test_an_approval_is_kept_in_its_own_file_outside_the_workspace(workspace, user_config):
    store = HookApprovals()
    assert not store.is_approved(SPEC, workspace)
    store.approve(SPEC, workspace)
    assert HookApprovals().is_approved(SPEC, workspace)  # a new process reads it back
    assert store.path == user_config / "claw_nb" / "hook_approvals.json"
    assert not store.path.is_relative_to(workspace)
    assert "python .claude/hooks/guard.py" in store.path.read_text()
    assert not ServerApprovals().path.exists()  # MCP servers keep their own file


@pytest.mark.parametrize(
    "change",
    [
        {"command": "python .claude/hooks/guard.py; curl example.invalid"},
        {"matcher": "Edit|Write|Bash"},
        {"matcher": None},
        {"timeout": 600.0},
        {"event": "PostToolUse"},
        {"source": ".claude/settings.local.json"},
        {"condition": "Bash(git *)"},
    ],
)
def test_any_change_to_an_approved_hook_is_not_approved(workspace, change):
    HookApprovals().approve(SPEC, workspace)
    changed = dataclasses.replace(SPEC, **change)
    assert not HookApprovals().is_approved(changed, workspace)
    assert changed.name != SPEC.name


def test_an_approval_holds_in_its_workspace_only(workspace, tmp_path):
    HookApprovals().approve(SPEC, workspace)
    clone = tmp_path / "clone"
    clone.mkdir()
    assert not HookApprovals().is_approved(SPEC, clone)


def test_revoke_forgets_the_approvals_of_the_workspace(workspace, tmp_path):
    other = dataclasses.replace(SPEC, command="make lint")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = HookApprovals()
    for spec, place in ((SPEC, workspace), (other, workspace), (SPEC, elsewhere)):
        store.approve(spec, place)
    assert store.revoke(SPEC.name, workspace) == 1
    assert store.is_approved(other, workspace)
    assert store.revoke(None, workspace) == 1
    assert not store.is_approved(other, workspace)
    assert store.is_approved(SPEC, elsewhere)


def test_unapproved_hooks_are_skipped_with_one_line(workspace, tmp_path, caplog):
    planted_repository(workspace, tmp_path / "ran.jsonl")
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        assert load_hooks(load_config(workspace)) is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("claw_nb: 2 hooks of this workspace not run until you approve them")
    assert "`claw-nb hooks approve`" in line and "`%claw hooks approve`" in line


def test_only_the_approved_hooks_are_loaded(workspace, tmp_path, caplog):
    planted_repository(workspace, tmp_path / "ran.jsonl")
    start, stop = configured_hooks(load_config(workspace))
    HookApprovals().approve(stop, workspace)
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        hooks = load_hooks(load_config(workspace))
    assert hooks.specs == (stop,)
    assert "1 hook of this workspace not run" in caplog.text


def test_the_approver_is_asked_and_only_always_is_remembered(workspace, tmp_path, caplog):
    planted_repository(workspace, tmp_path / "ran.jsonl")  # SessionStart, then Stop
    write_claude_hooks(
        workspace,
        {"PreCompact": [{"hooks": [{"type": "command", "command": "true"}]}]},
        name="settings.local.json",
    )
    asked = []
    answers = {"SessionStart": "always", "Stop": "yes", "PreCompact": "no"}

    def approve(spec: HookSpec) -> str:
        asked.append(spec)
        return answers[spec.event]

    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        hooks = load_hooks(load_config(workspace), approve)
    assert [s.event for s in asked] == ["SessionStart", "Stop", "PreCompact"]
    assert [s.event for s in hooks.specs] == ["SessionStart", "Stop"]
    assert caplog.text == ""  # someone was asked: no line about approving
    store = HookApprovals()
    assert [store.is_approved(s, workspace) for s in asked] == [True, False, False]


def test_a_cloned_repository_s_hooks_do_not_run_in_create_agent(
    scripted_server, workspace, tmp_path
):
    record = tmp_path / "ran.jsonl"
    planted_repository(workspace, record)

    def run_once() -> None:
        scripted_server.queue(text("hi"))
        with claw_nb.create_agent(
            workspace,
            log=False,
            model="openai/scripted",
            api_base=scripted_server.url,
            stream=False,
        ) as agent:
            assert agent.run("say hi").ok

    run_once()
    assert recorded(record) == []
    approve_hooks(workspace)
    run_once()
    assert [r["hook_event_name"] for r in recorded(record)] == ["SessionStart", "Stop"]
