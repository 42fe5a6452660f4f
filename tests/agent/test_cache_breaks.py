"""The loop's requests extend each other (a server's prompt cache keeps working), and the ones
that do not (a compaction) are counted as cache breaks, with the first message that changed.

Each test checks the flags against the requests the scripted server received, compared here
message by message, independently of `claw_nb.request_prefix`."""

from __future__ import annotations

import duckdb

import claw_nb
from claw_nb import events as ev
from claw_nb.testing import call, text, tool_calls
from tests.helpers import Recorder


def make_agent(server, workspace, tmp_path, **options):
    """An agent logging to `tmp_path / "log.duckdb"`, every call allowed (mode auto)."""
    recorder = Recorder()
    agent = claw_nb.create_agent(
        workspace,
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-test",
        stream=False,
        db_path=tmp_path / "log.duckdb",
        mode="auto",
        listeners=[recorder],
        **options,
    )
    return agent, recorder


def logged(tmp_path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "log.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def first_difference(before: dict, after: dict) -> int | None:
    """Where request `after` stops repeating request `before` (None: it extends it)."""
    if before.get("tools") != after.get("tools"):
        return 0
    for index, (a, b) in enumerate(zip(before["messages"], after["messages"])):
        if a != b:
            return index
    return None


def write_files(workspace, names, chars):
    for n, name in enumerate(names):
        lines = [f"{name} line {i}: value_{n}_{i} = compute({i}, {n})" for i in range(chars // 40)]
        (workspace / name).write_text("\n".join(lines) + "\n")


def test_the_loops_requests_extend_each_other_over_a_session(scripted_server, workspace, tmp_path):
    """Reads, a big output cut to a handle, paging it, an edit, a todo list: no break."""
    write_files(workspace, ["a.py", "b.py"], 1200)
    write_files(workspace, ["big.py"], 30_000)
    scripted_server.queue(
        tool_calls(call("list_files", {})),
        tool_calls(call("read_file", {"path": "a.py"})),
        tool_calls(call("read_file", {"path": "big.py"})),  # cut: its full text gets a handle
        tool_calls(call("read_output", {"handle": "out-1", "grep": "line 700"})),
        tool_calls(call("todo_write", {"todos": [{"content": "edit", "status": "pending"}]})),
        tool_calls(
            call("edit_file", {"path": "b.py", "old_string": "line 3:", "new_string": "L3:"})
        ),
        text("done"),
    )
    agent, rec = make_agent(scripted_server, workspace, tmp_path, max_tool_result_chars=2000)
    with agent:
        assert agent.run("look around").ok
    requests = scripted_server.requests
    assert len(requests) == 7 and "handle out-1" in str(requests[3]["messages"][-1])
    for before, after in zip(requests, requests[1:]):
        assert first_difference(before, after) is None
    calls = rec.of(ev.ModelCallFinished)
    assert [c.cache_break for c in calls] == [False] * 7
    assert logged(tmp_path, "SELECT count(*) FILTER (WHERE cache_break) FROM llm_calls") == [(0,)]


def test_a_compaction_is_a_cache_break_at_the_first_message_it_changed(
    scripted_server, workspace, tmp_path
):
    names = [f"big_{i}.py" for i in range(5)]
    write_files(workspace, names, 4000)
    scripted_server.queue(*[tool_calls(call("read_file", {"path": n})) for n in names], text("ok"))
    agent, rec = make_agent(scripted_server, workspace, tmp_path, context_window=12000)
    with agent:
        assert agent.run("read the big files").ok
    assert [e.method for e in rec.of(ev.ContextCompacted)] == ["prune"]
    requests = scripted_server.requests
    expected = [None] + [first_difference(a, b) for a, b in zip(requests, requests[1:])]
    calls = rec.of(ev.ModelCallFinished)
    assert [c.cache_break_index for c in calls] == expected
    (broken,) = [c for c in calls if c.cache_break]
    at = broken.cache_break_index
    assert at is not None and at > 1  # the system prompt and the task stay
    assert broken.cache_break_role == requests[broken.step - 1]["messages"][at]["role"] == "tool"
    assert broken.cache_break_reason == "compacted: prune (threshold)"
    rows = logged(
        tmp_path,
        "SELECT step, cache_break_index, cache_break_role, cache_break_reason FROM llm_calls "
        "WHERE cache_break",
    )
    assert rows == [(broken.step, at, "tool", "compacted: prune (threshold)")]


def test_a_continued_conversation_extends_the_last_request(scripted_server, workspace, tmp_path):
    """A second run (the next `%%claw` cell) appends its task: the prefix stays."""
    scripted_server.queue(tool_calls(call("list_files", {})), text("one"), text("two"))
    agent, rec = make_agent(scripted_server, workspace, tmp_path)
    with agent:
        assert agent.run("first").ok and agent.run("second").ok
    requests = scripted_server.requests
    assert first_difference(requests[1], requests[2]) is None
    assert [c.cache_break for c in rec.of(ev.ModelCallFinished)] == [False, False, False]


def test_a_rewind_then_a_new_request_breaks_where_the_history_was_cut(
    scripted_server, workspace, tmp_path
):
    scripted_server.queue(
        tool_calls(call("list_files", {})), text("one"), text("two"), text("three")
    )
    agent, rec = make_agent(scripted_server, workspace, tmp_path)
    with agent:
        assert agent.run("first").ok and agent.run("second").ok
        agent.rewind(1, files=False)  # back to the end of model call 1
        assert agent.run("again").ok
    calls = rec.of(ev.ModelCallFinished)
    requests = scripted_server.requests
    assert calls[-1].cache_break_index == first_difference(requests[-2], requests[-1])
    assert calls[-1].cache_break_reason == "messages removed"
