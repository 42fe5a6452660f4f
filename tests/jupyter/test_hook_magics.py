"""Hooks through `%%claw` in a real IPython shell, against the scripted model server: every
event of a notebook conversation, from its first cell to `%claw new` and `%unload_ext`."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from claw_nb.log.store import connect
from claw_nb.testing import call, text, tool_calls
from tests.hooks.scripts import (
    hook_command,
    private_user_dirs,
    recorded,
    write_claude_hooks,
    write_claw_hooks,
)
from tests.notebook_shell import claw_shell


@pytest.fixture
def shell(claw_env, monkeypatch, tmp_path):
    private_user_dirs(monkeypatch, tmp_path)  # approvals and the hooks' HOME: temporary
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


def users(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


GUARD_PROMPT = (
    "grep -q secret && { echo 'no secrets in prompts' >&2; exit 2; } || echo 'cwd is the project'"
)


def test_every_event_of_a_notebook_conversation(shell, claw_env, tmp_path, capsys):
    rec = {e: tmp_path / f"{e}.jsonl" for e in ("start", "post", "stop", "compact", "end")}
    deny = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": "use list_files instead",
        }
    }
    start = {"hookSpecificOutput": {"additionalContext": "kernel: python3"}}
    listed = {"hookSpecificOutput": {"additionalContext": "the data folder is large"}}
    again = {"decision": "block", "reason": "check once more"}
    write_claw_hooks(
        claw_env.workspace,
        {
            "SessionStart": [{"command": hook_command(rec["start"], stdout=start)}],
            "UserPromptSubmit": [{"command": GUARD_PROMPT}],
            "PreToolUse": [
                {"matcher": "Bash", "command": hook_command(tmp_path / "p", stdout=deny)}
            ],
            "PostToolUse": [
                {"matcher": "list_files", "command": hook_command(rec["post"], stdout=listed)}
            ],
            "Stop": [{"command": hook_command(rec["stop"], stdout=again, first=True)}],
            "PreCompact": [{"command": hook_command(rec["compact"], exit=1, stderr="no notes")}],
            "SessionEnd": [{"command": hook_command(rec["end"])}],
        },
        extra="keep_recent_turns = 1",
    )
    shell.run_line_magic("claw", "hooks approve")  # typing it is the user's yes
    (claw_env.workspace / "data.csv").write_text("a\n")
    server = claw_env.server
    server.queue(
        tool_calls(call("run_command", {"command": "ls"})),
        tool_calls(call("list_files", {"path": "."})),
        text("first look"),
        text("second look"),
    )
    shell.run_cell_magic("claw", "--mode auto", "look around")
    out = capsys.readouterr().out
    assert users(server.requests[0]) == [
        "look around\n\n[SessionStart hook context]\nkernel: python3\n\n"
        "[UserPromptSubmit hook context]\ncwd is the project"
    ]
    assert server.requests[1]["messages"][-1]["content"] == (
        "Error: permission denied: denied by a PreToolUse hook: use list_files instead"
    )
    assert server.requests[2]["messages"][-1]["content"].endswith(
        "[PostToolUse hook context]\nthe data folder is large"
    )
    assert users(server.requests[3])[-1] == "[Stop hook] You may not stop yet:\ncheck once more"
    assert "[hook: PreToolUse hook denied the call: use list_files instead]" in out
    assert "[hook: Stop hook blocked: check once more]" in out
    assert "second look" in out
    first_session = recorded(rec["start"])[0]["session_id"]

    # %claw compact: PreCompact (a failing one: the compaction goes on)
    server.queue(text("## Summary\nLooked at the files."))
    shell.run_line_magic("claw", "compact the data")
    assert "compacted (summary)" in capsys.readouterr().out
    (compact,) = recorded(rec["compact"])
    assert (compact["trigger"], compact["custom_instructions"]) == ("manual", "the data")

    # a blocked prompt: nothing reaches the model
    sent = len(server.requests)
    shell.run_cell_magic("claw", "--mode auto", "my secret is 42")
    out = capsys.readouterr().out
    assert "[hook: UserPromptSubmit hook blocked: no secrets in prompts]" in out
    assert "stopped (hook)" in out
    assert len(server.requests) == sent

    # a new conversation: SessionEnd of the old one, SessionStart of the new one
    server.queue(text("fresh"))
    shell.run_cell_magic("claw", "--new --mode auto", "start over")
    assert [(g["session_id"], g["reason"]) for g in recorded(rec["end"])] == [
        (first_session, "clear")
    ]
    starts = recorded(rec["start"])
    assert [g["source"] for g in starts] == ["startup", "startup"]
    assert starts[1]["session_id"] != first_session

    # unloading ends the current conversation too
    shell.run_line_magic("unload_ext", "claw_nb")
    assert [g["reason"] for g in recorded(rec["end"])] == ["clear", "other"]
    assert recorded(rec["end"])[1]["session_id"] == starts[1]["session_id"]
    shell.run_line_magic("load_ext", "claw_nb")

    con = connect(claw_env.db, read_only=True)
    try:
        rows = con.execute(
            "SELECT event, decision, exit_code, message FROM hook_runs WHERE session_id = ? "
            "ORDER BY created_at",
            [first_session],
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "Stop",
        "PreCompact",
        "UserPromptSubmit",
        "SessionEnd",
    ]
    assert rows[2][1] == "deny" and rows[4][1] == "block" and rows[7][1] == "block"
    assert rows[6][2:] == (1, "PreCompact hook failed (exit 1): no notes")


def test_a_cloned_repository_s_hook_runs_only_after_claw_hooks_approve(
    shell, claw_env, tmp_path, capsys, caplog
):
    record = tmp_path / "prompts.jsonl"
    hook = {"type": "command", "command": hook_command(record)}
    write_claude_hooks(claw_env.workspace, {"UserPromptSubmit": [{"hooks": [hook]}]})
    claw_env.server.queue(text("one"), text("two"), text("three"))
    shell.run_cell_magic("claw", "--mode auto", "first")
    assert recorded(record) == []
    assert "1 hook of this workspace not run until you approve them" in caplog.text
    assert "`%claw hooks approve`" in caplog.text

    shell.run_line_magic("claw", "hooks")
    (head, command, how) = capsys.readouterr().out.splitlines()[-3:]
    hook_id = head.split()[0]
    assert head == (
        f"{hook_id}  not approved  UserPromptSubmit  matcher *  timeout 60 s  "
        "(.claude/settings.json)"
    )
    assert command == "  " + hook_command(record)
    assert how.endswith(f"(notebook: %claw hooks approve {hook_id})")

    shell.run_line_magic("claw", "hooks approve")
    assert capsys.readouterr().out.strip() == (
        f"approved UserPromptSubmit hook {hook_id} (.claude/settings.json): " + hook_command(record)
    )
    shell.run_cell_magic("claw", "--mode auto", "second")  # the same conversation, rebuilt
    assert [g["prompt"] for g in recorded(record)] == ["second"]
    assert len([m for m in claw_env.server.requests[1]["messages"] if m["role"] == "user"]) == 2

    shell.run_line_magic("claw", f"hooks revoke {hook_id}")
    assert capsys.readouterr().out.splitlines()[-1] == f"revoked 1 approval(s) of hook {hook_id}"
    shell.run_cell_magic("claw", "--mode auto", "third")
    assert [g["prompt"] for g in recorded(record)] == ["second"]


def test_a_bad_hook_setting_is_a_one_line_usage_error(shell, claw_env):
    write_claw_hooks(claw_env.workspace, {"Stop": [{"command": "x", "matcher": "("}]})
    with pytest.raises(UsageError, match=r"\[\[hooks.Stop\]\]: matcher '\(' is not a regex"):
        shell.run_cell_magic("claw", "--mode auto", "hi")


def test_the_widget_shows_hooks_that_denied_or_failed_and_not_quiet_ones():
    pytest.importorskip("ipywidgets", reason="the widget view needs ipywidgets")
    from claw_nb import events as ev
    from claw_nb.jupyter.widget import WidgetTranscript

    view = WidgetTranscript("task")
    common = {"session_id": "s", "step": 1, "source": ".claw/settings.toml", "matcher": None}
    view(
        ev.HookRan(
            **common,
            event="PreToolUse",
            command="g",
            exit_code=2,
            duration_ms=3.0,
            decision="deny",
            reason="no rm",
        )
    )
    view(
        ev.HookRan(
            **common,
            event="Stop",
            command="c",
            exit_code=1,
            duration_ms=3.0,
            decision="none",
            message="Stop hook failed (exit 1): oops",
        )
    )
    view(
        ev.HookRan(
            **common, event="Stop", command="q", exit_code=0, duration_ms=3.0, decision="none"
        )
    )
    notes = [
        getattr(c, "value", "") for c in view.body.children if "hook:" in getattr(c, "value", "")
    ]
    assert len(notes) == 2  # the quiet one is not shown
    assert "hook: PreToolUse hook denied the call: no rm" in notes[0]
    assert "hook: Stop hook failed (exit 1): oops" in notes[1]
