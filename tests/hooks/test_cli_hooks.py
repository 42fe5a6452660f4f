"""Hooks through `claw-nb run`: the real CLI process, the scripted model server, the DuckDB log.
Each event answers with exit 0, exit 2, another code and JSON; a Claude Code project works
unchanged."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from claw_nb.log.store import connect
from claw_nb.testing import call, text, tool_calls
from tests.helpers import run_claw
from tests.hooks.scripts import (
    approve_hooks,
    hook_command,
    recorded,
    write_claude_hooks,
    write_claw_hooks,
)


def run_cli(claw_env, *args: str, approve: bool = True) -> subprocess.CompletedProcess:
    """`claw-nb run` in its own process, stdin not a terminal; with `approve`, the user has
    approved the workspace's hooks first (`claw-nb hooks approve`)."""
    if approve:
        approve_hooks(claw_env.workspace)
    proc = run_claw(claw_env.workspace, *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def hook_rows(db: Path) -> list[tuple]:
    con = connect(db, read_only=True)
    try:
        return con.execute(
            "SELECT event, tool, exit_code, timed_out, decision, reason, message FROM hook_runs "
            "ORDER BY created_at"
        ).fetchall()
    finally:
        con.close()


def users(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_exit_0_and_json_replies_add_context_and_allow_a_call(claw_env, tmp_path):
    rec = {e: tmp_path / f"{e}.jsonl" for e in ("start", "prompt", "pre", "post", "stop", "end")}
    allow = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": "writes to notes are fine",
        }
    }
    context = {"hookSpecificOutput": {"additionalContext": "the user prefers short answers"}}
    write_claw_hooks(
        claw_env.workspace,
        {
            "SessionStart": [{"command": hook_command(rec["start"], stdout="branch: main")}],
            "UserPromptSubmit": [{"command": hook_command(rec["prompt"], stdout=context)}],
            "PreToolUse": [
                {"matcher": "write_file", "command": hook_command(rec["pre"], stdout=allow)}
            ],
            "PostToolUse": [{"command": hook_command(rec["post"], stdout="not context")}],
            "Stop": [{"command": hook_command(rec["stop"])}],
            "SessionEnd": [{"command": hook_command(rec["end"])}],
        },
    )
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "notes.txt", "content": "hi"}, id="w1")),
        text("Wrote it."),
    )
    proc = run_cli(claw_env, "write notes")  # mode ask, nobody at a terminal: the hook allows
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (claw_env.workspace / "notes.txt").read_text() == "hi"
    assert users(claw_env.server.requests[0]) == [
        "write notes\n\n[SessionStart hook context]\nbranch: main\n\n"
        "[UserPromptSubmit hook context]\nthe user prefers short answers"
    ]
    tool_message = claw_env.server.requests[1]["messages"][-1]
    assert "not context" not in tool_message["content"]
    assert recorded(rec["start"])[0]["source"] == "startup"
    assert recorded(rec["prompt"])[0]["prompt"] == "write notes"
    pre = recorded(rec["pre"])[0]
    assert (pre["tool_name"], pre["tool_input"], pre["tool_use_id"]) == (
        "write_file",
        {"path": "notes.txt", "content": "hi"},
        "w1",
    )
    assert recorded(rec["post"])[0]["tool_response"]["ok"] is True
    assert recorded(rec["stop"])[0]["stop_hook_active"] is False
    assert recorded(rec["end"])[0]["reason"] == "other"
    assert hook_rows(claw_env.db) == [
        ("SessionStart", None, 0, False, "none", None, None),
        ("UserPromptSubmit", None, 0, False, "none", None, None),
        ("PreToolUse", "write_file", 0, False, "allow", "writes to notes are fine", None),
        ("PostToolUse", "write_file", 0, False, "none", None, None),
        ("Stop", None, 0, False, "none", None, None),
        ("SessionEnd", None, 0, False, "none", None, None),
    ]
    con = connect(claw_env.db, read_only=True)
    try:
        (decision,) = con.execute("SELECT decision FROM tool_calls").fetchone()
    finally:
        con.close()
    assert decision == "allowed by a PreToolUse hook: writes to notes are fine"


def test_exit_2_blocks_the_call_feeds_back_and_keeps_the_agent_going(claw_env, tmp_path):
    (claw_env.workspace / "data.csv").write_text("a,b\n")
    write_claw_hooks(
        claw_env.workspace,
        {
            "SessionStart": [{"command": hook_command(tmp_path / "s", exit=2, stderr="odd")}],
            "PreToolUse": [
                {
                    "matcher": "write_file",
                    "command": hook_command(tmp_path / "w", exit=2, stderr="data is read-only"),
                }
            ],
            "PostToolUse": [
                {
                    "matcher": "read_file",
                    "command": hook_command(tmp_path / "r", exit=2, stderr="mind the header"),
                }
            ],
            "Stop": [
                {
                    "command": hook_command(
                        tmp_path / "t", exit=2, stderr="summarise first", first=True
                    )
                }
            ],
            "SessionEnd": [{"command": hook_command(tmp_path / "e", exit=2, stderr="bye")}],
        },
    )
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "data.csv", "content": ""})),
        tool_calls(call("read_file", {"path": "data.csv"})),
        text("Done."),
        text("Summary: two columns."),
    )
    proc = run_cli(claw_env, "--mode", "auto", "look at data.csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (claw_env.workspace / "data.csv").read_text() == "a,b\n"
    denied = claw_env.server.requests[1]["messages"][-1]["content"]
    assert denied == "Error: permission denied: denied by a PreToolUse hook: data is read-only"
    read = claw_env.server.requests[2]["messages"][-1]["content"]
    assert read.endswith("\n\n[PostToolUse hook feedback]\nmind the header")
    assert users(claw_env.server.requests[3])[-1] == (
        "[Stop hook] You may not stop yet:\nsummarise first"
    )
    out = proc.stdout
    assert "[hook: SessionStart hook (exit 2): odd]" in out
    assert "[hook: PreToolUse hook denied the call: data is read-only]" in out
    assert "[hook: Stop hook blocked: summarise first]" in out
    assert "[hook: SessionEnd hook (exit 2): bye]" in out
    assert "Summary: two columns." in out
    assert [(r[0], r[2], r[4]) for r in hook_rows(claw_env.db)] == [
        ("SessionStart", 2, "none"),
        ("PreToolUse", 2, "deny"),
        ("PostToolUse", 2, "block"),
        ("Stop", 2, "block"),
        ("Stop", 0, "none"),
        ("SessionEnd", 2, "none"),
    ]


def test_other_exit_codes_and_a_hanging_hook_are_shown_and_block_nothing(claw_env, tmp_path):
    write_claw_hooks(
        claw_env.workspace,
        {
            "UserPromptSubmit": [{"command": hook_command(tmp_path / "u", exit=1, stderr="meh")}],
            "PreToolUse": [
                {"command": hook_command(tmp_path / "p", hang=True), "timeout": 2},
            ],
            "PostToolUse": [{"command": hook_command(tmp_path / "o", exit=3)}],
            "Stop": [{"command": "exit 127"}],
            "SessionEnd": [{"command": hook_command(tmp_path / "e", exit=1, stderr="late")}],
        },
    )
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"})), text("ok")
    )
    proc = run_cli(claw_env, "--mode", "auto", "write a")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (claw_env.workspace / "a.txt").read_text() == "x"
    assert users(claw_env.server.requests[0]) == ["write a"]
    out = proc.stdout
    assert "[hook: UserPromptSubmit hook failed (exit 1): meh]" in out
    assert "[hook: PreToolUse hook timed out after 2 s and was killed]" in out
    assert "[hook: PostToolUse hook failed (exit 3)]" in out
    assert "[hook: Stop hook failed (exit 127)]" in out
    assert "[hook: SessionEnd hook failed (exit 1): late]" in out
    rows = hook_rows(claw_env.db)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("UserPromptSubmit", 1, False, "none"),
        ("PreToolUse", None, True, "none"),
        ("PostToolUse", 3, False, "none"),
        ("Stop", 127, False, "none"),
        ("SessionEnd", 1, False, "none"),
    ]


def test_a_blocked_prompt_ends_the_run_before_the_model(claw_env, tmp_path):
    block = {"decision": "block", "reason": "no production hosts in prompts"}
    write_claw_hooks(
        claw_env.workspace,
        {"UserPromptSubmit": [{"command": hook_command(tmp_path / "u", stdout=block)}]},
    )
    proc = run_cli(claw_env, "ssh into prod-db-1")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        "claw-nb: hook: a UserPromptSubmit hook blocked the prompt: no production hosts in prompts"
    )
    assert claw_env.server.requests == []
    assert hook_rows(claw_env.db)[0][4:6] == ("block", "no production hosts in prompts")


def test_a_bad_hook_setting_is_one_line_not_a_traceback(claw_env):
    write_claw_hooks(claw_env.workspace, {"Stop": [{"command": "x", "timeout": -1}]})
    proc = run_cli(claw_env, "hi", approve=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "claw-nb: .claw/settings.toml [[hooks.Stop]]: timeout must be a positive number of seconds"
    )


# -- a Claude Code project, unchanged -----------------------------------------------------------

PROTECT = """#!{python}
# .claude/hooks/protect.py: block edits of .env files (a PreToolUse hook for Edit|Write)
import json, sys
call = json.load(sys.stdin)
path = call["tool_input"].get("file_path", "")
if call["tool_name"] in ("Edit", "Write") and path.endswith(".env"):
    print(f"Blocked: {{path}} holds secrets", file=sys.stderr)
    sys.exit(2)
"""
STOP = """#!{python}
# .claude/hooks/stop.py: do not stop before the tests were run, once
import json, sys
given = json.load(sys.stdin)
if not given["stop_hook_active"]:
    print(json.dumps({{"decision": "block", "reason": "Run the tests before you stop."}}))
"""


def test_a_claude_code_project_works_unchanged(claw_env, tmp_path):
    ws = claw_env.workspace
    hooks_dir = ws / ".claude" / "hooks"
    hooks_dir.mkdir(parents=True)
    for name, source in (("protect.py", PROTECT), ("stop.py", STOP)):
        script = hooks_dir / name
        script.write_text(source.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    write_claude_hooks(
        ws,
        {
            "PreToolUse": [
                {
                    "matcher": "Edit|Write",
                    "hooks": [
                        {
                            "type": "command",
                            "command": '"$CLAUDE_PROJECT_DIR"/.claude/hooks/protect.py',
                        }
                    ],
                }
            ],
            "Stop": [{"hooks": [{"type": "command", "command": ".claude/hooks/stop.py"}]}],
            "Notification": [{"hooks": [{"type": "command", "command": "notify-send x"}]}],
        },
    )
    (ws / ".env").write_text("KEY=1\n")
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": ".env", "content": "KEY=2\n"})),
        tool_calls(call("write_file", {"path": "app.py", "content": "print(1)\n"})),
        text("Done."),
        tool_calls(call("run_command", {"command": "echo tests pass"})),
        text("Tests pass."),
    )
    proc = run_cli(claw_env, "--mode", "auto", "update the key and write app.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (ws / ".env").read_text() == "KEY=1\n"
    assert (ws / "app.py").read_text() == "print(1)\n"
    denied = claw_env.server.requests[1]["messages"][-1]["content"]
    assert denied == (
        f"Error: permission denied: denied by a PreToolUse hook: Blocked: {ws / '.env'} holds secrets"
    )
    assert users(claw_env.server.requests[3])[-1] == (
        "[Stop hook] You may not stop yet:\nRun the tests before you stop."
    )
    assert "Tests pass." in proc.stdout
    assert "Notification is not supported" in proc.stderr
    con = connect(claw_env.db, read_only=True)
    try:
        sources = con.execute("SELECT DISTINCT source FROM hook_runs").fetchall()
    finally:
        con.close()
    assert sources == [(".claude/settings.json",)]
    assert json.loads((ws / ".claude" / "settings.json").read_text())["hooks"]  # untouched


def test_stream_json_reports_each_hook_before_the_result(claw_env, tmp_path):
    write_claw_hooks(
        claw_env.workspace,
        {
            "PreToolUse": [{"command": hook_command(tmp_path / "p", exit=2, stderr="not now")}],
            "SessionEnd": [{"command": hook_command(tmp_path / "e")}],
        },
    )
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"}, id="w1")), text("ok")
    )
    proc = run_cli(claw_env, "--output-format", "stream-json", "--mode", "auto", "write a")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    hooks = [r for r in records if r.get("subtype") == "hook"]
    assert [
        (h["event"], h["tool_use_id"], h["exit_code"], h["decision"], h["reason"]) for h in hooks
    ] == [("PreToolUse", "w1", 2, "deny", "not now")]
    assert records[-1]["type"] == "result"
    assert recorded(tmp_path / "e")  # SessionEnd ran after the result: logged, not written
    assert [r[0] for r in hook_rows(claw_env.db)] == ["PreToolUse", "SessionEnd"]
