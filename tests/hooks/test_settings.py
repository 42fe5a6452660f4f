"""Where hooks come from: `[[hooks.EVENT]]` in `.claw/settings.toml` and the `hooks` of Claude
Code's `.claude/settings.json`; both files are protected from the agent."""

from __future__ import annotations

import json
import logging
import os

import pytest

from claw_nb.config import load_config
from claw_nb.errors import HookSettingsError
from claw_nb.hooks import HookSpec, configured_hooks, load_hooks
from claw_nb.permissions import PermissionPolicy
from claw_nb.protected_paths import protection_reason
from claw_nb.sandbox import SandboxSettings
from tests.hooks.scripts import write_claude_hooks, write_claw_hooks


def specs(workspace) -> list[HookSpec]:
    return configured_hooks(load_config(workspace))


def test_no_hooks_configured_means_no_hooks_object(workspace):
    assert load_hooks(load_config(workspace)) is None


def test_claw_settings_hooks(workspace):
    write_claw_hooks(
        workspace,
        {
            "PreToolUse": [{"matcher": "run_command", "command": "./guard.sh", "timeout": 5}],
            "Stop": [{"command": "make check"}],
        },
    )
    assert specs(workspace) == [
        HookSpec("PreToolUse", "./guard.sh", "run_command", 5.0),
        HookSpec("Stop", "make check", None, 60.0),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": ""}, "command must be a non-empty string"),
        ({"command": "x", "timeout": 0}, "timeout must be a positive number"),
        ({"command": "x", "matcher": "("}, "is not a regex"),
        ({"command": "x", "when": "always"}, "unknown key(s) when"),
    ],
)
def test_a_bad_claw_hook_is_an_error_that_says_what_to_fix(workspace, entry, message):
    write_claw_hooks(workspace, {"Stop": [entry]})
    with pytest.raises(HookSettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        specs(workspace)


def test_an_unknown_event_in_our_file_is_an_error(workspace):
    write_claw_hooks(workspace, {"Notification": [{"command": "x"}]})  # not one of ours
    with pytest.raises(HookSettingsError, match="unknown event"):
        specs(workspace)


def test_pyproject_cannot_configure_hooks(workspace, caplog):
    (workspace / "pyproject.toml").write_text('[[tool.claw.hooks.Stop]]\ncommand = "evil"\n')
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        assert specs(workspace) == []
    assert "[tool.claw] hooks" in caplog.text


def test_claude_code_settings_hooks_are_read_from_both_project_files(workspace):
    write_claude_hooks(
        workspace,
        {
            "PreToolUse": [
                {
                    "matcher": "Bash",
                    "hooks": [{"type": "command", "command": "guard", "timeout": 9}],
                }
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "check"}]}],
        },
    )
    write_claude_hooks(
        workspace,
        {"SessionStart": [{"hooks": [{"type": "command", "command": "ctx"}]}]},
        name="settings.local.json",
    )
    got = specs(workspace)
    assert [(s.event, s.command, s.matcher, s.timeout, s.source, s.claude) for s in got] == [
        ("PreToolUse", "guard", "Bash", 9.0, ".claude/settings.json", True),
        ("Stop", "check", None, 60.0, ".claude/settings.json", True),
        ("SessionStart", "ctx", None, 60.0, ".claude/settings.local.json", True),
    ]


def test_claude_code_events_and_handler_types_we_lack_are_skipped_with_a_warning(workspace, caplog):
    write_claude_hooks(
        workspace,
        {
            "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}],
            "Stop": [
                {
                    "hooks": [
                        {"type": "prompt", "prompt": "done?"},
                        {"type": "command", "command": "ok"},
                    ]
                }
            ],
        },
    )
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        got = specs(workspace)
    assert [(s.event, s.command) for s in got] == [("Stop", "ok")]
    assert "Notification is not supported" in caplog.text
    assert "a prompt hook of Stop is not supported" in caplog.text


def test_broken_claude_settings_are_an_error_not_silently_no_hooks(workspace):
    (workspace / ".claude").mkdir()
    (workspace / ".claude" / "settings.json").write_text('{"hooks": {"Stop": [}')
    with pytest.raises(HookSettingsError, match="not valid JSON"):
        specs(workspace)


def test_claude_settings_linked_out_of_the_workspace_are_refused(workspace, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [{"command": "x"}]}]}}))
    (workspace / ".claude").mkdir()
    os.symlink(outside, workspace / ".claude" / "settings.json")
    with pytest.raises(HookSettingsError, match="refused"):
        specs(workspace)


def test_claude_settings_without_hooks_are_fine(workspace):
    (workspace / ".claude").mkdir()
    (workspace / ".claude" / "settings.json").write_text('{"permissions": {"allow": []}}')
    assert specs(workspace) == []


# -- protection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [".claude/settings.json", ".claude/settings.local.json", "sub/../.claude/x.json"]
)
def test_writing_claude_settings_asks_in_every_mode(workspace, path):
    assert protection_reason(workspace, path) is not None
    policy = PermissionPolicy(mode="auto", workspace=str(workspace))
    action, reason = policy.decide("write_file", "edit", {"path": path})
    assert action == "ask" and ".claude/" in reason


def test_the_sandbox_keeps_claude_settings_read_only_by_default():
    assert ".claude" in SandboxSettings().read_only
