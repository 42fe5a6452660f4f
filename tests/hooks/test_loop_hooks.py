"""The agent loop with hooks, against the scripted model server: what the model is shown, what
is blocked, and when each event fires."""

from __future__ import annotations

import json

import claw_nb
from claw_nb import events as ev
from claw_nb.config import load_config
from claw_nb.hooks import CommandHooks, HookSpec
from claw_nb.testing import call, text, tool_calls
from tests.helpers import recorded_agent, scripted_config, unguarded_agent
from tests.hooks.scripts import approve_hooks, hook_command, recorded, write_claw_hooks


def make_agent(server, workspace, specs, **options):
    config = scripted_config(server, workspace, retry_base_delay=0.01, **options)
    return recorded_agent(config, hooks=CommandHooks(specs, workspace))


def user_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_session_start_and_prompt_context_reach_the_model(scripted_server, workspace):
    specs = [
        HookSpec("SessionStart", "echo branch: main"),
        HookSpec("UserPromptSubmit", "printf 'use pytest -q'"),
    ]
    scripted_server.queue(text("done"), text("again"))
    agent, rec = make_agent(scripted_server, workspace, specs)
    assert agent.run("fix the test").ok
    assert user_messages(scripted_server.requests[0]) == [
        "fix the test\n\n[SessionStart hook context]\nbranch: main\n\n"
        "[UserPromptSubmit hook context]\nuse pytest -q"
    ]
    assert agent.run("and the docs").ok  # the same conversation: no second SessionStart
    assert user_messages(scripted_server.requests[1])[-1] == (
        "and the docs\n\n[UserPromptSubmit hook context]\nuse pytest -q"
    )
    ran = rec.of(ev.HookRan)
    assert [(r.event, r.exit_code, r.decision) for r in ran] == [
        ("SessionStart", 0, "none"),
        ("UserPromptSubmit", 0, "none"),
        ("UserPromptSubmit", 0, "none"),
    ]


def test_a_blocked_prompt_never_reaches_the_model(scripted_server, workspace):
    specs = [HookSpec("UserPromptSubmit", "echo 'that looks like a key' >&2; exit 2")]
    agent, rec = make_agent(scripted_server, workspace, specs)
    result = agent.run("here is sk-123")
    assert result.stop_reason == "hook"
    assert result.error == "a UserPromptSubmit hook blocked the prompt: that looks like a key"
    assert scripted_server.requests == []
    assert [m["role"] for m in agent.messages] == ["system"]
    assert rec.of(ev.SessionEnded)[0].error == result.error


def test_pre_tool_exit_2_denies_the_call_and_the_model_reads_why(scripted_server, workspace):
    record = workspace.parent / "pre.jsonl"
    specs = [HookSpec("PreToolUse", hook_command(record, exit=2, stderr="no rm here"), "Bash")]
    scripted_server.queue(
        tool_calls(call("run_command", {"command": "rm -rf data"}, id="c1")), text("ok")
    )
    agent, rec = make_agent(scripted_server, workspace, specs)
    assert agent.run("clean up").ok
    tool_message = scripted_server.requests[1]["messages"][-1]
    assert tool_message["content"] == (
        "Error: permission denied: denied by a PreToolUse hook: no rm here"
    )
    (finished,) = rec.of(ev.ToolCallFinished)
    assert finished.error_kind == "denied"
    (given,) = recorded(record)
    assert given["tool_input"] == {"command": "rm -rf data"} and given["tool_use_id"] == "c1"
    (ran,) = rec.of(ev.HookRan)
    assert (ran.tool, ran.call_id, ran.decision, ran.step) == ("run_command", "c1", "deny", 1)


def test_post_tool_feedback_follows_the_result(scripted_server, workspace):
    reply = {"hookSpecificOutput": {"additionalContext": "formatted with black"}}
    specs = [
        HookSpec("PostToolUse", "echo 'line 3 is too long' >&2; exit 2", "write_file"),
        HookSpec("PostToolUse", f"echo '{json.dumps(reply)}'", "Write"),
    ]
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.py", "content": "x = 1\n"})), text("ok")
    )
    agent, _ = make_agent(scripted_server, workspace, specs)
    assert agent.run("write a.py").ok
    content = scripted_server.requests[1]["messages"][-1]["content"]
    assert content.endswith(
        "\n\n[PostToolUse hook feedback]\nline 3 is too long"
        "\n\n[PostToolUse hook context]\nformatted with black"
    )
    assert (workspace / "a.py").read_text() == "x = 1\n"


def test_a_stop_hook_sends_the_model_back_once(scripted_server, workspace):
    record = workspace.parent / "stop.jsonl"
    specs = [HookSpec("Stop", hook_command(record, exit=2, stderr="tests fail", first=True))]
    scripted_server.queue(text("done, I think"), text("fixed the tests too"))
    agent, rec = make_agent(scripted_server, workspace, specs)
    result = agent.run("fix it")
    assert result.final_answer == "fixed the tests too" and result.steps == 2
    assert user_messages(scripted_server.requests[1])[-1] == (
        "[Stop hook] You may not stop yet:\ntests fail"
    )
    assert [g["stop_hook_active"] for g in recorded(record)] == [False, True]
    assert [e.text for e in rec.of(ev.FinalAnswer)] == ["fixed the tests too"]


def test_continue_false_ends_the_run_after_the_call(scripted_server, workspace):
    reply = {"continue": False, "stopReason": "the budget is spent"}
    specs = [HookSpec("PostToolUse", f"echo '{json.dumps(reply)}'")]
    scripted_server.queue(
        tool_calls(
            call("write_file", {"path": "a.txt", "content": "1"}, id="c1"),
            call("write_file", {"path": "b.txt", "content": "2"}, id="c2"),
        ),
        text("never asked"),
    )
    agent, _ = make_agent(scripted_server, workspace, specs)
    result = agent.run("write two files")
    assert (result.stop_reason, result.error) == ("hook", "the budget is spent")
    assert (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()
    results = {m["tool_call_id"]: m["content"] for m in agent.messages if m["role"] == "tool"}
    assert results["c2"] == "Error: not run: the budget is spent"
    assert len(scripted_server.requests) == 1


def test_pre_compact_fires_before_a_summary_and_session_end_once_on_close(
    scripted_server, workspace
):
    record = workspace.parent / "life.jsonl"
    specs = [
        HookSpec("PreCompact", hook_command(record, exit=2, stderr="saving notes")),
        HookSpec("SessionEnd", hook_command(record)),
    ]
    for n in range(4):
        (workspace / f"f{n}.py").write_text(f"# file {n}\n" + "x = 1\n" * 200)
    scripted_server.queue(
        *[tool_calls(call("read_file", {"path": f"f{n}.py"})) for n in range(4)],
        text("read them"),
        text("## Summary\nThe user asked to read four files."),
    )
    agent, rec = make_agent(scripted_server, workspace, specs, keep_recent_turns=1)
    assert agent.run("read the files").ok
    assert agent.compact("the parser") is not None
    agent.close()
    agent.close()
    given = recorded(record)
    assert [g["hook_event_name"] for g in given] == ["PreCompact", "SessionEnd"]
    assert (given[0]["trigger"], given[0]["custom_instructions"]) == ("manual", "the parser")
    assert given[1]["reason"] == "other"
    pre, end = rec.of(ev.HookRan)
    assert pre.message == "PreCompact hook (exit 2): saving notes" and pre.decision == "none"
    assert rec.index(pre) < rec.index(rec.of(ev.ContextCompacted)[0])


def test_a_resumed_history_starts_with_source_resume(scripted_server, workspace):
    record = workspace.parent / "start.jsonl"
    history = [{"role": "system", "content": "s"}, {"role": "user", "content": "earlier"}]
    scripted_server.queue(text("hi"))
    config = load_config(workspace, model="openai/scripted", api_base=scripted_server.url)
    hooks = CommandHooks([HookSpec("SessionStart", hook_command(record))], workspace)
    agent = unguarded_agent(config, hooks=hooks, history=history)
    assert agent.run("go on").ok
    assert [g["source"] for g in recorded(record)] == ["resume"]


def test_a_hook_allow_does_not_pass_a_call_quoted_from_a_file(scripted_server, workspace):
    from tests.agent.test_quoted_calls import QUOTING_REPLY, README

    allow = {"hookSpecificOutput": {"permissionDecision": "allow"}}
    write_claw_hooks(workspace, {"PreToolUse": [{"command": f"echo '{json.dumps(allow)}'"}]})
    approve_hooks(workspace)
    (workspace / "README.md").write_text(README)
    scripted_server.queue(
        tool_calls(call("read_file", {"path": "README.md"})), text(QUOTING_REPLY), text("done")
    )
    with claw_nb.create_agent(
        workspace,
        log=False,
        mode="auto",
        model="openai/scripted",
        api_base=scripted_server.url,
        stream=False,
    ) as agent:
        assert agent.run("summarise the README").ok
    assert not (workspace / "pwned.txt").exists()
    told = scripted_server.requests[2]["messages"][-1]["content"]
    assert "copied from content read earlier" in told and "no person to ask" in told


def test_continue_false_wins_over_a_stop_hook_block(scripted_server, workspace):
    reply = {"decision": "block", "reason": "more", "continue": False, "stopReason": "enough"}
    scripted_server.queue(text("done"), text("never asked"))
    agent, _ = make_agent(
        scripted_server, workspace, [HookSpec("Stop", f"echo '{json.dumps(reply)}'")]
    )
    result = agent.run("go")
    assert (result.stop_reason, result.final_answer) == ("completed", "done")
    assert len(scripted_server.requests) == 1
