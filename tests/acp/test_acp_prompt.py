"""`claw-nb acp` driven by the SDK's client: one prompt turn, as an editor sees it.

The agent runs as a subprocess against the scripted model server; the test client records every
session update and answers permission questions as a user clicking a button would.
"""

from __future__ import annotations

import time

from claw_nb.log.store import connect
from claw_nb.permissions import MODES
from claw_nb.testing import call, text, tool_calls
from tests.acp.client import RecordingClient, claw_acp, prompt, run

CALL_KINDS = ("allow_once", "allow_always", "reject_once")


def _scripted_fix(server) -> None:
    server.queue(
        tool_calls(call("read_file", {"path": "a.txt"}, id="c_read"), content="Looking."),
        tool_calls(
            call(
                "edit_file",
                {"path": "a.txt", "old_string": "hello", "new_string": "bye"},
                id="c_edit",
            )
        ),
        tool_calls(call("run_command", {"command": "cat a.txt"}, id="c_cmd")),
        text("Done: a.txt says bye now."),
    )


def test_a_prompt_reads_asks_for_the_edit_runs_a_command_and_streams_text(claw_env):
    (claw_env.workspace / "a.txt").write_text("hello\n")
    _scripted_fix(claw_env.server)
    client = RecordingClient(answers=["allow_once", "allow_once"])

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            assert session.modes.current_mode_id == "ask"
            assert [m.id for m in session.modes.available_modes] == list(MODES)
            return await conn.prompt(session_id=session.session_id, prompt=prompt("fix a.txt"))

    response = run(scenario())
    assert response.stop_reason == "end_turn"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert (claw_env.workspace / "a.txt").read_text() == "bye\n"
    path = str(claw_env.workspace / "a.txt")

    read, read_updates = client.call("c_read")
    assert (read.kind, read.title, read.status) == ("read", "Read a.txt", "pending")
    assert [loc.path for loc in read.locations] == [path]
    assert (
        read_updates[-1].status == "completed"
        and "hello" in read_updates[-1].content[0].content.text
    )
    assert client.reads == [path]  # read through the client, which offered fs.readTextFile

    edit, edit_updates = client.call("c_edit")
    diff = edit.content[0]
    assert (edit.kind, diff.type, diff.path, diff.old_text, diff.new_text) == (
        "edit",
        "diff",
        path,
        "hello\n",
        "bye\n",
    )
    assert edit_updates[-1].status == "completed"
    asked_edit, options = client.permissions[0]
    assert asked_edit.tool_call_id == "c_edit" and asked_edit.content[0].new_text == "bye\n"
    assert [(o.option_id, o.kind) for o in options] == [(k, k) for k in CALL_KINDS]

    command, command_updates = client.call("c_cmd")
    assert command.kind == "execute" and command.title == "Run cat a.txt"
    assert client.permissions[1][0].tool_call_id == "c_cmd"  # mode ask: commands ask too
    assert command_updates[-1].status == "completed"
    assert "bye" in command_updates[-1].content[0].content.text

    assert client.text() == "Looking.Done: a.txt says bye now."
    order = [getattr(u, "tool_call_id", None) or u.session_update for u in client.updates]
    assert order.index("agent_message_chunk") < order.index("c_read") < order.index("c_edit")
    assert client.of("usage_update")[0].size > 0

    with connect(claw_env.db, read_only=True) as con:
        decisions = con.execute(
            "SELECT call_id, decision FROM tool_calls ORDER BY call_id"
        ).fetchall()
    assert dict(decisions)["c_edit"].endswith("approved by the test client (ACP)")


def test_a_refused_edit_is_not_made_and_the_model_is_told(claw_env):
    (claw_env.workspace / "a.txt").write_text("hello\n")
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "gone"}, id="c_write")),
        text("I left it alone."),
    )
    client = RecordingClient(answers=["reject_once"])

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            return await conn.prompt(session_id=session.session_id, prompt=prompt("clear a.txt"))

    assert run(scenario()).stop_reason == "end_turn"
    assert (claw_env.workspace / "a.txt").read_text() == "hello\n"
    _, updates = client.call("c_write")
    assert updates[-1].status == "failed"
    tool_message = claw_env.server.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and "permission denied" in tool_message["content"]


def test_allow_always_names_its_rule_and_stops_asking_for_that_file(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "one.txt", "content": "1"})),
        tool_calls(call("write_file", {"path": "one.txt", "content": "2"})),
        tool_calls(call("write_file", {"path": "two.txt", "content": "2"})),
        text("Written."),
    )
    client = RecordingClient(answers=["allow_always", "allow_once"])

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            return await conn.prompt(session_id=session.session_id, prompt=prompt("write both"))

    run(scenario())
    assert len(client.permissions) == 2  # one.txt once, then two.txt: a rule is per file
    names = [o.name for o in client.permissions[0][1]]
    assert "Allow always: write_file(one.txt)" in names
    assert (claw_env.workspace / "one.txt").read_text() == "2"
    assert (claw_env.workspace / "two.txt").read_text() == "2"


def test_accept_edits_set_by_the_client_edits_without_asking(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"})), text("Written.")
    )
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            await conn.set_session_mode(session_id=session.session_id, mode_id="accept-edits")
            return await conn.prompt(session_id=session.session_id, prompt=prompt("write a.txt"))

    run(scenario())
    assert client.permissions == []
    assert (claw_env.workspace / "a.txt").read_text() == "x"


def test_an_approved_plan_switches_the_session_to_the_mode_picked(claw_env):
    claw_env.server.queue(
        tool_calls(call("exit_plan_mode", {"plan": "1. write a.txt"}, id="c_plan")),
        tool_calls(call("write_file", {"path": "a.txt", "content": "planned"})),
        text("Carried out."),
    )
    client = RecordingClient(answers=["plan_accept_edits"])

    async def scenario():
        async with claw_acp(client, claw_env, "--mode", "plan") as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            assert session.modes.current_mode_id == "plan"
            return await conn.prompt(session_id=session.session_id, prompt=prompt("plan it"))

    run(scenario())
    asked, options = client.permissions[0]
    assert asked.tool_call_id == "c_plan" and asked.kind == "switch_mode"
    assert asked.content[0].content.text == "1. write a.txt"
    assert " / ".join(o.option_id for o in options) == (
        "plan_accept_edits / plan_ask / plan_auto / plan_keep"
    )
    assert [u.current_mode_id for u in client.of("current_mode_update")] == ["accept-edits"]
    assert len(client.permissions) == 1  # the edit after the plan ran in accept-edits
    assert (claw_env.workspace / "a.txt").read_text() == "planned"


def test_the_first_text_streams_soon_after_the_prompt(claw_env):
    """Prompt to first `agent_message_chunk`, the session already open (the model is a local
    scripted server): what a user waits before the answer starts to appear."""
    claw_env.server.queue(text("Hello there, streaming."), text("Again."))
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            sent = time.perf_counter()
            await conn.prompt(session_id=session.session_id, prompt=prompt("say hello"))
            await client.first_text.wait()  # SDK 0.11 may answer before it hands over updates
            return client.first_text_at - sent

    seconds = run(scenario())
    print(f"prompt -> first agent_message_chunk: {seconds * 1000:.0f} ms")
    assert seconds < 5.0  # a regression (an import or a database open on the way) shows here
