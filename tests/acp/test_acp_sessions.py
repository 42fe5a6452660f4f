"""`claw-nb acp` sessions over time: cancel mid-run, load after a restart, list, attachments."""

from __future__ import annotations

import asyncio

from acp.schema import EmbeddedResourceContentBlock, ResourceContentBlock, TextResourceContents

from claw_nb.log.store import list_sessions
from claw_nb.testing import call, endless_stream, text, tool_calls
from tests.acp.client import GENEROUS, RecordingClient, cancelled, claw_acp, prompt, run


def test_cancel_while_the_model_streams_ends_the_turn_as_cancelled(claw_env):
    claw_env.server.queue(endless_stream("la "))
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            turn = asyncio.create_task(
                conn.prompt(session_id=session.session_id, prompt=prompt("sing"))
            )
            await client.first_text.wait()
            await conn.cancel(session_id=session.session_id)
            return await turn

    assert run(scenario()).stop_reason == "cancelled"
    assert client.text().startswith("la ")
    assert claw_env.server.client_closed_stream.wait(GENEROUS)  # the model request was dropped


def test_cancel_while_a_permission_is_pending_ends_the_turn_without_the_edit(claw_env):
    claw_env.server.queue(tool_calls(call("write_file", {"path": "a.txt", "content": "x"})))
    never = asyncio.Event()

    async def hold(tool_call):  # the user never clicks; the editor cancels the turn instead
        await never.wait()
        return cancelled()

    client = RecordingClient(answers=[hold])

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            turn = asyncio.create_task(
                conn.prompt(session_id=session.session_id, prompt=prompt("write a.txt"))
            )
            await client.asked.wait()
            await conn.cancel(session_id=session.session_id)
            response = await turn
            never.set()
            return response

    assert run(scenario()).stop_reason == "cancelled"
    assert not (claw_env.workspace / "a.txt").exists()
    assert len(claw_env.server.requests) == 1  # no model call after the cancel


def test_a_session_loads_after_the_agent_process_restarts(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "colour.txt", "content": "blue"}, id="c_w")),
        text("Noted: blue."),
        text("You said blue."),
    )
    first, second = RecordingClient(answers=["allow_once"]), RecordingClient()

    async def scenario():
        async with claw_acp(first, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            await conn.prompt(session_id=session.session_id, prompt=prompt("remember blue"))
            live = await asyncio.to_thread(list_sessions, claw_env.db)  # agent still running
            assert list(live["session_id"]) == [session.session_id]
            assert list(live["stop_reason"]) == ["completed"]
        async with claw_acp(second, claw_env) as (conn, _):  # a new process, the same log
            listed = await conn.list_sessions(cwd=str(claw_env.workspace))
            loaded = await conn.load_session(
                cwd=str(claw_env.workspace), session_id=session.session_id, mcp_servers=[]
            )
            await second.first_text.wait()  # SDK 0.11 may answer before it hands over updates
            replayed = list(second.updates)
            response = await conn.prompt(
                session_id=session.session_id, prompt=prompt("which colour?")
            )
            return session.session_id, listed, loaded, replayed, response

    session_id, listed, loaded, replayed, response = run(scenario())
    assert [(s.session_id, s.title) for s in listed.sessions] == [(session_id, "remember blue")]
    assert loaded.modes.current_mode_id == "ask"
    kinds = [u.session_update for u in replayed]
    assert kinds == ["user_message_chunk", "tool_call", "tool_call_update", "agent_message_chunk"]
    assert replayed[0].content.text == "remember blue"
    assert (replayed[1].tool_call_id, replayed[2].status) == ("c_w", "completed")
    assert replayed[3].content.text == "Noted: blue."
    assert response.stop_reason == "end_turn" and second.text() == "Noted: blue.You said blue."
    sent = claw_env.server.requests[-1]["messages"]  # the model got the whole conversation
    assert [m["content"] for m in sent if m["role"] == "user"] == ["remember blue", "which colour?"]


def test_loading_an_unknown_session_is_an_error_the_client_can_read(claw_env):
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env, error_answers=True) as (conn, _):
            try:
                await conn.load_session(
                    cwd=str(claw_env.workspace), session_id="nosuchsession", mcp_servers=[]
                )
            except Exception as exc:  # noqa: BLE001 - the SDK raises RequestError
                return exc
        return None

    error = run(scenario())
    assert getattr(error, "code", None) == -32002  # resource not found


def test_attached_files_reach_the_model_as_paths_and_text(claw_env):
    claw_env.server.queue(text("Seen."))
    client = RecordingClient()
    linked = claw_env.workspace / "src" / "app.py"

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            blocks = [
                *prompt("look at these"),
                ResourceContentBlock(type="resource_link", uri=linked.as_uri(), name="app.py"),
                EmbeddedResourceContentBlock(
                    type="resource",
                    resource=TextResourceContents(uri="file:///elsewhere/notes.md", text="# notes"),
                ),
            ]
            return await conn.prompt(session_id=session.session_id, prompt=blocks)

    run(scenario())
    task = claw_env.server.requests[0]["messages"][-1]["content"]
    assert task == (
        "look at these\n\n[attached: src/app.py]\n\n"
        '<attached path="/elsewhere/notes.md">\n# notes\n</attached>'
    )
