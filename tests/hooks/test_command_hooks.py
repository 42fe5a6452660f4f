"""`CommandHooks`, event by event: what each exit code and JSON reply comes to (Claude Code's
meaning), what the hook is given on stdin, and that a hook that hangs is killed, group and all."""

from __future__ import annotations

import os
import select
import signal
from pathlib import Path

import pytest

from claw_nb.hooks import CommandHooks, HookSpec
from claw_nb.hooks.runner import run_command
from tests.hooks.scripts import hook_command, recorded


def hooks_for(tmp_path: Path, event: str, matcher: str | None = None, **plan) -> CommandHooks:
    record = tmp_path / f"{event}.jsonl"
    spec = HookSpec(event, hook_command(record, **plan), matcher, timeout=30)
    return CommandHooks([spec], tmp_path)


def pre_tool(hooks: CommandHooks, tool: str = "run_command", **arguments):
    return hooks.pre_tool_use(
        "s1", tool=tool, tool_input=arguments or {"command": "ls"}, call_id="c1"
    )


# -- what a hook is given ---------------------------------------------------------------------


def test_a_tool_hook_gets_the_call_as_json_on_stdin(tmp_path):
    hooks = hooks_for(tmp_path, "PreToolUse")
    pre_tool(hooks, command="pytest -q")
    (given,) = recorded(tmp_path / "PreToolUse.jsonl")
    assert given == {
        "session_id": "s1",
        "cwd": str(tmp_path),
        "hook_event_name": "PreToolUse",
        "tool_name": "run_command",
        "tool_input": {"command": "pytest -q"},
        "tool_use_id": "c1",
        "claw_tool_name": "run_command",
    }


def test_each_event_gets_its_own_fields(tmp_path):
    record = tmp_path / "all.jsonl"
    events = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop"]
    events += ["PreCompact", "SessionEnd"]
    hooks = CommandHooks([HookSpec(e, hook_command(record)) for e in events], tmp_path)
    hooks.session_start("s", source="startup")
    hooks.user_prompt_submit("s", prompt="fix it")
    hooks.post_tool_use(
        "s", tool="read_file", tool_input={"path": "a"}, tool_response={"ok": True}, call_id="c"
    )
    hooks.stop("s", stop_hook_active=True)
    hooks.subagent_stop("s", stop_hook_active=False)
    hooks.pre_compact("s", trigger="manual", focus="the tests")
    hooks.session_end("s", reason="clear")
    got = {g["hook_event_name"]: g for g in recorded(record)}
    assert got["SessionStart"]["source"] == "startup"
    assert got["UserPromptSubmit"]["prompt"] == "fix it"
    assert got["PostToolUse"]["tool_response"] == {"ok": True}
    assert got["Stop"]["stop_hook_active"] is True
    assert got["SubagentStop"]["stop_hook_active"] is False
    assert got["PreCompact"]["trigger"] == "manual"
    assert got["PreCompact"]["custom_instructions"] == "the tests"
    assert got["SessionEnd"]["reason"] == "clear"


def test_the_hook_runs_in_the_workspace_with_the_project_dir_set(tmp_path):
    out = tmp_path / "env.txt"
    command = f'echo "$PWD|$CLAUDE_PROJECT_DIR|$CLAW_PROJECT_DIR" > {out}'
    CommandHooks([HookSpec("Stop", command)], tmp_path).stop("s", stop_hook_active=False)
    assert out.read_text().strip() == f"{tmp_path}|{tmp_path}|{tmp_path}"


# -- exit codes ---------------------------------------------------------------------------------


def test_exit_0_goes_on_and_plain_stdout_is_context_for_prompt_and_start(tmp_path):
    start = hooks_for(tmp_path, "SessionStart", stdout="branch: main\n")
    assert start.session_start("s", source="startup").context == ("branch: main",)
    prompt = hooks_for(tmp_path, "UserPromptSubmit", stdout="today is Monday")
    outcome = prompt.user_prompt_submit("s", prompt="x")
    assert (outcome.decision, outcome.context) == ("none", ("today is Monday",))
    (run,) = outcome.runs
    assert run.exit_code == 0 and run.decision == "none" and run.message is None


def test_plain_stdout_of_other_events_is_not_context(tmp_path):
    hooks = hooks_for(tmp_path, "PreToolUse", stdout="looked at it")
    assert pre_tool(hooks).context == ()


@pytest.mark.parametrize(
    ("event", "decision"),
    [
        ("PreToolUse", "deny"),
        ("UserPromptSubmit", "block"),
        ("PostToolUse", "block"),
        ("Stop", "block"),
        ("SubagentStop", "block"),
    ],
)
def test_exit_2_blocks_with_stderr_as_the_reason(tmp_path, event, decision):
    hooks = hooks_for(tmp_path, event, exit=2, stderr="not like this\n")
    outcome = {
        "PreToolUse": lambda: pre_tool(hooks),
        "UserPromptSubmit": lambda: hooks.user_prompt_submit("s", prompt="x"),
        "PostToolUse": lambda: hooks.post_tool_use(
            "s", tool="run_command", tool_input={}, tool_response={}, call_id="c"
        ),
        "Stop": lambda: hooks.stop("s", stop_hook_active=False),
        "SubagentStop": lambda: hooks.subagent_stop("s", stop_hook_active=False),
    }[event]()
    assert (outcome.decision, outcome.reason) == (decision, "not like this")
    assert outcome.runs[0].exit_code == 2


@pytest.mark.parametrize("event", ["SessionStart", "PreCompact", "SessionEnd"])
def test_exit_2_cannot_block_where_there_is_nothing_to_block(tmp_path, event):
    hooks = hooks_for(tmp_path, event, exit=2, stderr="hm")
    outcome = {
        "SessionStart": lambda: hooks.session_start("s", source="startup"),
        "PreCompact": lambda: hooks.pre_compact("s", trigger="auto", focus=None),
        "SessionEnd": lambda: hooks.session_end("s", reason="other"),
    }[event]()
    assert outcome.decision == "none"
    assert outcome.runs[0].message == f"{event} hook (exit 2): hm"


@pytest.mark.parametrize("code", [1, 127])
def test_other_exit_codes_are_shown_and_do_not_block(tmp_path, code):
    hooks = hooks_for(tmp_path, "PreToolUse", exit=code, stderr="jq: command not found")
    outcome = pre_tool(hooks)
    assert outcome.decision == "none" and outcome.reason is None
    assert outcome.runs[0].message == f"PreToolUse hook failed (exit {code}): jq: command not found"


# -- JSON replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["allow", "ask", "deny"])
def test_pre_tool_use_permission_decision(tmp_path, answer):
    reply = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": answer,
            "permissionDecisionReason": f"{answer} by policy",
        }
    }
    outcome = pre_tool(hooks_for(tmp_path, "PreToolUse", stdout=reply))
    assert (outcome.decision, outcome.reason) == (answer, f"{answer} by policy")


def test_pre_tool_use_older_approve_and_block_spelling(tmp_path):
    approve = hooks_for(tmp_path, "PreToolUse", stdout={"decision": "approve"})
    assert pre_tool(approve).decision == "allow"
    block = hooks_for(tmp_path / "..", "PreToolUse", stdout={"decision": "block", "reason": "no"})
    assert (pre_tool(block).decision, pre_tool(block).reason) == ("deny", "no")


def test_json_block_with_reason_for_stop_and_additional_context(tmp_path):
    stop = hooks_for(tmp_path, "Stop", stdout={"decision": "block", "reason": "run the tests"})
    assert stop.stop("s", stop_hook_active=False).reason == "run the tests"
    reply = {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "v2"}}
    start = hooks_for(tmp_path, "SessionStart", stdout=reply)
    assert start.session_start("s", source="resume").context == ("v2",)


def test_continue_false_asks_to_end_the_run_and_system_message_is_shown(tmp_path):
    reply = {"continue": False, "stopReason": "budget spent", "systemMessage": "bye"}
    outcome = pre_tool(hooks_for(tmp_path, "PreToolUse", stdout=reply))
    assert outcome.stop == "budget spent"
    assert outcome.runs[0].message == "bye"


def test_json_is_read_only_on_exit_0(tmp_path):
    reply = {"hookSpecificOutput": {"permissionDecision": "allow"}}
    outcome = pre_tool(hooks_for(tmp_path, "PreToolUse", stdout=reply, exit=2, stderr="no"))
    assert (outcome.decision, outcome.reason) == ("deny", "no")


# -- several hooks, matchers --------------------------------------------------------------------


def test_the_strictest_answer_wins_and_every_hook_is_reported(tmp_path):
    allow = {"hookSpecificOutput": {"permissionDecision": "allow"}}
    ask = {"hookSpecificOutput": {"permissionDecision": "ask", "permissionDecisionReason": "hm"}}
    specs = [
        HookSpec("PreToolUse", hook_command(tmp_path / "a", stdout=allow)),
        HookSpec("PreToolUse", hook_command(tmp_path / "b", stdout=ask)),
        HookSpec("PreToolUse", hook_command(tmp_path / "c", exit=1)),
    ]
    outcome = pre_tool(CommandHooks(specs, tmp_path))
    assert (outcome.decision, outcome.reason) == ("ask", "hm")
    assert [r.decision for r in outcome.runs] == ["allow", "ask", "none"]


def test_matchers_take_our_names_and_claude_code_names(tmp_path):
    record = tmp_path / "r"
    specs = [
        HookSpec("PreToolUse", hook_command(record, stdout="bash"), "Bash"),
        HookSpec("PreToolUse", hook_command(record, stdout="edits"), "Edit|Write"),
        HookSpec("PreToolUse", hook_command(record, stdout="ours"), "read_.*"),
    ]
    hooks = CommandHooks(specs, tmp_path)
    ran = {
        tool: [r.stdout for r in pre_tool(hooks, tool, path="a").runs]
        for tool in ("run_command", "write_file", "edit_file", "read_file", "grep")
    }
    assert ran == {
        "run_command": ["bash"],
        "write_file": ["edits"],
        "edit_file": ["edits"],
        "read_file": ["ours"],
        "grep": [],
    }


def test_a_plain_name_matches_exactly_not_as_a_substring(tmp_path):
    hooks = CommandHooks([HookSpec("PreToolUse", "true", "Edit")], tmp_path)
    assert pre_tool(hooks, "notebook_edit", path="a.ipynb").runs == ()


def test_a_claude_code_hook_gets_claude_code_names_and_file_path(tmp_path):
    record = tmp_path / "r"
    spec = HookSpec("PreToolUse", hook_command(record), "Write", claude=True)
    pre_tool(CommandHooks([spec], tmp_path), "write_file", path="src/a.py", content="x")
    (given,) = recorded(record)
    assert given["tool_name"] == "Write" and given["claw_tool_name"] == "write_file"
    assert given["tool_input"] == {
        "path": "src/a.py",
        "content": "x",
        "file_path": str(tmp_path / "src" / "a.py"),
    }


def test_claude_code_if_condition_narrows_a_hook(tmp_path):
    spec = HookSpec("PreToolUse", "exit 2", "Bash", claude=True, condition="Bash(git push:*)")
    hooks = CommandHooks([spec], tmp_path)
    assert pre_tool(hooks, command="git status").runs == ()
    assert pre_tool(hooks, command="make && git push origin main").decision == "deny"


def test_session_start_and_pre_compact_matchers_take_source_and_trigger(tmp_path):
    specs = [
        HookSpec("SessionStart", "echo fresh", "startup"),
        HookSpec("PreCompact", "true", "manual"),
    ]
    hooks = CommandHooks(specs, tmp_path)
    assert hooks.session_start("s", source="resume").runs == ()
    assert hooks.session_start("s", source="startup").context == ("fresh",)
    assert hooks.pre_compact("s", trigger="auto", focus=None).runs == ()
    assert len(hooks.pre_compact("s", trigger="manual", focus=None).runs) == 1


def test_the_same_command_from_two_files_runs_once(tmp_path):
    specs = [
        HookSpec("Stop", "echo once"),
        HookSpec("Stop", "echo once", source=".claude/settings.json"),
    ]
    assert len(CommandHooks(specs, tmp_path).stop("s", stop_hook_active=False).runs) == 1


# -- hooks that misbehave -----------------------------------------------------------------------


def test_a_hook_that_hangs_is_killed_with_its_children_and_reported(tmp_path, time_limit):
    pids = [tmp_path / "pid1", tmp_path / "pid2"]
    child, grandchild = (hook_command(tmp_path / "r", hang=True, pid_file=p) for p in pids)
    command = f"{child} & {grandchild}; wait"  # a background child and one in the foreground
    hooks = CommandHooks([HookSpec("PreToolUse", command, timeout=3)], tmp_path)
    with time_limit(20):
        outcome = pre_tool(hooks)
    (run,) = outcome.runs
    assert run.timed_out and run.exit_code is None and outcome.decision == "none"
    assert run.message == "PreToolUse hook timed out after 3 s and was killed"
    assert [ends_within(int(path.read_text()), 5) for path in pids] == [True, True]


def ends_within(pid: int, seconds: float) -> bool:
    """Whether process `pid` has ended or ends within `seconds` (a pidfd turns readable when
    the process exits: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def test_a_hook_that_cannot_start_is_reported(tmp_path):
    result = run_command("true", b"", cwd=tmp_path / "gone", env=dict(os.environ), timeout=5)
    assert result.error is not None and result.exit_code is None
    hooks = CommandHooks([HookSpec("Stop", "true")], tmp_path / "gone")
    (run,) = hooks.stop("s", stop_hook_active=False).runs
    assert run.message.startswith("Stop hook could not run: could not start")


def test_a_hook_that_ignores_a_large_stdin_still_finishes(tmp_path, time_limit):
    with time_limit(20):
        result = run_command(
            "exit 0", b"x" * 5_000_000, cwd=tmp_path, env=dict(os.environ), timeout=10
        )
    assert (result.exit_code, result.timed_out) == (0, False)


def test_a_hook_killed_by_a_signal_is_a_failure_not_a_block(tmp_path):
    hooks = CommandHooks([HookSpec("PreToolUse", "kill -TERM $$")], tmp_path)
    outcome = pre_tool(hooks)
    assert outcome.decision == "none"
    assert outcome.runs[0].exit_code == -signal.SIGTERM
