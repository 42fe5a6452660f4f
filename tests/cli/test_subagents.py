"""Subagents end to end through `claw-nb run`: the real CLI, LiteLLM, the scripted server and
the DuckDB log. The server tells the parent's requests from the child's by their first user
message (`tests.helpers.ByTask`)."""

from __future__ import annotations

import json

from claw_nb.cli import main
from claw_nb.log.store import connect
from claw_nb.testing import call, text, tool_calls
from tests.helpers import ByTask

EXPLORER = """---
name: explorer
description: Finds where things are defined. Read-only.
tools: Read, Grep, Glob, WebSearch
model: sonnet
color: blue
---
You are EXPLORER-PROMPT. Find things and say where they are.
"""


def rows(db, sql, *params):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def names(request):
    return [t["function"]["name"] for t in request.get("tools", [])]


def test_a_claude_code_agent_runs_as_a_child_with_its_own_context_and_log_rows(claw_env, capsys):
    ws = claw_env.workspace
    (ws / ".claude" / "agents").mkdir(parents=True)
    (ws / ".claude" / "agents" / "explorer.md").write_text(EXPLORER)
    (ws / "utils.py").write_text("def add(a, b):\n    return a + b\n")
    router = ByTask(
        PARENTWORK=[
            tool_calls(
                call(
                    "task",
                    {
                        "description": "find add",
                        "prompt": "CHILDWORK: where is add?",
                        "agent": "explorer",
                    },
                ),
            ),
            text("The subagent found it in utils.py."),
        ],
        CHILDWORK=[
            tool_calls(call("grep", {"pattern": "def add"})),
            text("add is defined in utils.py, line 1."),
        ],
    )
    claw_env.server.default = router
    code = main(
        ["run", "--cwd", str(ws), "--no-stream", "PARENTWORK: the secret is 4711; find add"]
    )
    out = capsys.readouterr().out
    assert code == 0, out

    parent_requests, child_requests = router.requests["PARENTWORK"], router.requests["CHILDWORK"]
    assert len(parent_requests) == 2 and len(child_requests) == 2
    # its own context: nothing of the parent's conversation, its definition as system prompt
    for request in child_requests:
        sent = json.dumps(request["messages"])
        assert "4711" not in sent and "PARENTWORK" not in sent
        assert request["messages"][0]["content"].startswith("You are EXPLORER-PROMPT.")
    assert sorted(names(child_requests[0])) == ["grep", "list_files", "read_file", "read_output"]
    assert "task" in names(parent_requests[0])
    # the parent reads the child's answer and what it changed as the task's result
    result = parent_requests[1]["messages"][-1]
    assert result["role"] == "tool" and "add is defined in utils.py, line 1." in result["content"]
    assert "Files changed: none" in result["content"]
    assert "WebSearch" in result["content"]  # a Claude Code tool claw_nb has not, said

    # the terminal shows the child nested under the task call
    assert "subagent explorer: session" in out
    assert "   | -> grep" in out and "   | claw: stopped (completed) after 2 steps" in out

    db = claw_env.db
    sessions = rows(
        db,
        "select session_id, parent_session_id, parent_call_id, agent_name, task, steps "
        "from sessions order by started_at",
    )
    assert len(sessions) == 2
    (parent_id, no_parent, *_), (child_id, linked, call_id, agent, task, steps) = sessions
    assert no_parent is None and linked == parent_id and agent == "explorer"
    assert task == "CHILDWORK: where is add?" and steps == 2
    ((tool,),) = rows(
        db, "select tool from tool_calls where session_id = ? and call_id = ?", parent_id, call_id
    )
    assert tool == "task"
    assert rows(db, "select tool from tool_calls where session_id = ?", child_id) == [("grep",)]
    child_roles = [
        r
        for (r,) in rows(
            db, "select role from messages where session_id = ? order by seq", child_id
        )
    ]
    assert child_roles == ["system", "user", "assistant", "tool", "assistant"]

    # `show` replays the parent with the child nested under its task call
    assert main(["show", "--cwd", str(ws), parent_id[:8]]) == 0
    replay = capsys.readouterr().out
    assert f"[subagent explorer: session {child_id}]" in replay
    assert "  | [assistant]\n  | add is defined in utils.py, line 1." in replay
    assert (
        replay.index("-> task")
        < replay.index("  | [user]")
        < replay.index("[assistant]\nThe subagent found it")
    )


def usage(prompt: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def test_stream_json_tags_the_childs_records_and_ends_with_the_parents_result(claw_env, capsys):
    task = {"description": "look", "prompt": "CHILDWORK: list the files"}
    claw_env.server.default = ByTask(
        PARENTWORK=[
            tool_calls(call("task", task, id="call_t"), usage=usage(100, 10)),
            text("Parent answer.", usage=usage(200, 5)),
        ],
        CHILDWORK=[
            tool_calls(call("list_files", {}, id="call_l"), usage=usage(50, 5)),
            text("Child answer.", usage=usage(60, 6)),
        ],
    )
    ws = str(claw_env.workspace)
    code = main(["run", "--cwd", ws, "--no-stream", "--output-format", "stream-json", "PARENTWORK"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    kinds = [(r["type"], r.get("subtype"), r.get("parent_tool_use_id")) for r in records]
    assert kinds == [
        ("system", "init", None),
        ("tool_use", None, None),
        ("system", "subagent_init", "call_t"),
        ("tool_use", None, "call_t"),
        ("tool_result", None, "call_t"),
        ("assistant", None, "call_t"),
        ("system", "subagent_result", "call_t"),
        ("tool_result", None, None),
        ("assistant", None, None),
        ("result", None, None),
    ]
    parent_id = records[0]["session_id"]
    child_init, child_end, result = records[2], records[6], records[-1]
    assert child_init["parent_session_id"] == parent_id and child_init["agent"] is None
    assert child_init["session_id"] != parent_id == result["session_id"]
    assert child_end["final_answer"] == "Child answer." and child_end["ok"] is True
    assert result["final_answer"] == "Parent answer."
    assert result["usage"] == {"prompt_tokens": 410, "completion_tokens": 26}
