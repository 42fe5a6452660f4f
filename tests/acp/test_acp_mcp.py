"""`claw-nb acp` with MCP servers: the client's (passed in `session/new`) and the workspace's.

The servers are the real notes server of tests/mcp (written with the `mcp` package), run with a
temporary HOME and approvals folder (`user_config`); the model is the scripted server, so the
tests read what reached the model from its recorded requests.
"""

from __future__ import annotations

import signal
import sys

from acp.schema import EnvVariable, HttpHeader, HttpMcpServer, McpServerStdio, SseMcpServer

from claw_nb.mcp.approvals import ServerApprovals
from claw_nb.mcp.specs import load_servers
from claw_nb.testing import call, text, tool_calls
from tests.acp.client import RecordingClient, claw_acp, prompt, run
from tests.mcp import conftest as mcp_fixtures
from tests.mcp.conftest import NOTES_SERVER, alive, notes_entry, started_pids, write_mcp_json

# the MCP tests' fixtures: a private HOME and approvals folder for every test here (autouse),
# the notes server over streamable HTTP and SSE
user_config = mcp_fixtures.user_config
http_notes_server = mcp_fixtures.http_notes_server


def notes_over_stdio(name: str, **env: str) -> McpServerStdio:
    return McpServerStdio(
        name=name,
        command=sys.executable,
        args=[str(NOTES_SERVER)],
        env=[EnvVariable(name=k, value=v) for k, v in env.items()],
    )


def tool_names(request: dict) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def tool_result(request: dict) -> str:
    return request["messages"][-1]["content"]


def stderr_of(claw_env) -> str:
    return (claw_env.workspace.parent / "acp-stderr.txt").read_text()


def test_initialize_advertises_mcp_over_http_and_sse(claw_env):
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env):
            pass

    run(scenario())
    mcp = client.initialized.agent_capabilities.mcp_capabilities
    assert (mcp.http, mcp.sse) == (True, True)


def test_a_stdio_server_from_session_new_serves_the_model_and_stops_with_the_process(
    claw_env, tmp_path, user_config
):
    pids = tmp_path / "pids"
    claw_env.server.queue(
        tool_calls(call("mcp__Notes_Server__lookup", {"key": "greeting"}, id="c_mcp")),
        text("The note says hello."),
    )
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            server = notes_over_stdio("Notes Server", NOTES_PIDS=str(pids))
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[server])
            response = await conn.prompt(session_id=session.session_id, prompt=prompt("read it"))
            await client.first_text.wait()  # SDK 0.11 may answer before it hands over updates
            return response

    assert run(scenario()).stop_reason == "end_turn"
    first, second = claw_env.server.requests
    assert "mcp__Notes_Server__lookup" in tool_names(first)
    assert tool_result(second) == "hello from the notes server"
    start, updates = client.call("c_mcp")
    assert (start.kind, updates[-1].status) == ("read", "completed")  # read-only: no question
    assert client.permissions == []
    assert not (user_config / "claw_nb" / "mcp_approvals.json").exists()  # nothing approved
    assert "notes-server stderr" not in stderr_of(claw_env)  # the server's stderr stays private
    (pid,) = started_pids(pids)
    assert not alive(pid)  # stopped when the client closed the connection


def test_an_http_server_from_session_new_gets_its_headers_as_given(claw_env, http_notes_server):
    kind, url = http_notes_server
    claw_env.server.queue(
        tool_calls(call("mcp__remote__lookup", {"key": "greeting"})),
        tool_calls(call("mcp__remote__header", {"name": "X-Notes-Token"})),
        text("done"),
    )
    schema = HttpMcpServer if kind == "http" else SseMcpServer
    server = schema(
        type=kind,
        name="remote",
        url=url,
        headers=[HttpHeader(name="X-Notes-Token", value="s3cret ${NOT_EXPANDED}")],
    )
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[server])
            return await conn.prompt(session_id=session.session_id, prompt=prompt("look"))

    assert run(scenario()).stop_reason == "end_turn"
    _, looked_up, header = claw_env.server.requests
    assert tool_result(looked_up) == "hello from the notes server"
    assert tool_result(header) == "X-Notes-Token: s3cret ${NOT_EXPANDED}"


def test_sigterm_still_stops_the_client_servers_before_the_process_exits(claw_env, tmp_path):
    pids = tmp_path / "pids"
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, process):
            server = notes_over_stdio("notes", NOTES_PIDS=str(pids))
            await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[server])
            (pid,) = started_pids(pids)  # session/new answers once the server is ready
            assert alive(pid)
            process.send_signal(signal.SIGTERM)
            return pid, await process.wait()

    pid, returncode = run(scenario())
    assert returncode == 0  # it shut down, rather than dying of the signal
    assert not alive(pid)


def test_a_client_server_wins_a_name_clash_with_an_approved_workspace_server(claw_env, tmp_path):
    ws_pids, client_pids = tmp_path / "ws-pids", tmp_path / "client-pids"
    write_mcp_json(claw_env.workspace, {"notes": notes_entry(ws_pids, WHO="workspace")})
    ServerApprovals().approve(load_servers(claw_env.workspace, {}).get("notes"), claw_env.workspace)
    claw_env.server.queue(
        tool_calls(call("mcp__notes__environment", {"name": "WHO"})), text("done")
    )
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            server = notes_over_stdio("notes", NOTES_PIDS=str(client_pids), WHO="client")
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[server])
            return await conn.prompt(session_id=session.session_id, prompt=prompt("who?"))

    run(scenario())
    assert "WHO=client" in tool_result(claw_env.server.requests[1])
    assert started_pids(ws_pids) == [] and len(started_pids(client_pids)) == 1
    assert (
        ".mcp.json: server 'notes' is also passed by the test client (ACP); that one is used"
        in stderr_of(claw_env)
    )


def test_unapproved_workspace_servers_stay_off_and_a_line_on_stderr_says_how(claw_env, tmp_path):
    pids = tmp_path / "pids"
    write_mcp_json(claw_env.workspace, {"notes": notes_entry(pids)})
    claw_env.server.queue(text("No notes here."))
    client = RecordingClient()

    async def scenario():
        async with claw_acp(client, claw_env) as (conn, _):
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            return await conn.prompt(session_id=session.session_id, prompt=prompt("notes?"))

    assert run(scenario()).stop_reason == "end_turn"
    assert not any(n.startswith("mcp__") for n in tool_names(claw_env.server.requests[0]))
    assert started_pids(pids) == []
    stderr = stderr_of(claw_env)
    assert "MCP servers not started until you approve them: notes" in stderr
    assert "claw-nb mcp approve notes" in stderr
