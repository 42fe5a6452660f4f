"""Running real MCP servers: start in the background, list, call, fail with a name, stop."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from claw_nb.mcp.approvals import ServerApprovals
from claw_nb.mcp.connections import McpServers, State
from claw_nb.mcp.report import describe_servers, get_prompt, read_resource
from claw_nb.mcp.specs import ServerList, ServerSpec
from claw_nb.tools.base import ToolError, ToolTimeout
from tests.mcp.conftest import NOTES_SERVER, alive, started_pids


def notes_spec(name="notes", **env: str) -> ServerSpec:
    return ServerSpec(
        name,
        ".mcp.json",
        command=sys.executable,
        args=(str(NOTES_SERVER),),
        env=tuple(sorted(env.items())),
    )


def python_spec(name: str, code: str) -> ServerSpec:
    return ServerSpec(name, ".mcp.json", command=sys.executable, args=("-c", code))


def yes(spec):
    return "yes"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One notes server for the tests that only call it."""
    workspace = tmp_path_factory.mktemp("ws")
    store = ServerApprovals(tmp_path_factory.mktemp("config") / "approvals.json")
    spec = notes_spec(GIVEN="${CLAW_MCP_TEST_GIVEN:-a default}")
    servers = McpServers(ServerList((spec,)), workspace, store=store)
    servers.start(yes)
    servers.wait()
    yield servers
    servers.close()


def tools_by_name(servers):
    return {t.name: t for t in servers.tools()}


def test_the_server_tools_become_claw_tools_with_their_kinds(running):
    assert running.status("notes").state is State.READY
    kinds = {name: tool.kind for name, tool in tools_by_name(running).items()}
    assert kinds == {
        "mcp__notes__lookup": "read",
        "mcp__notes__add_note": "mcp",
        "mcp__notes__environment": "read",
        "mcp__notes__long_text": "read",
        "mcp__notes__header": "read",
        "mcp__notes__wait_forever": "mcp",
    }


def test_a_call_returns_the_server_text_and_a_failure_says_what_was_wrong(running):
    tools = tools_by_name(running)
    assert tools["mcp__notes__lookup"].run(None, {"key": "greeting"}) == (
        "hello from the notes server"
    )
    with pytest.raises(ToolError, match=r"no note 'nope'; keys: greeting"):
        tools["mcp__notes__lookup"].run(None, {"key": "nope"})


def test_the_server_runs_in_the_workspace_with_the_environment_it_is_given(running):
    environment = tools_by_name(running)["mcp__notes__environment"]
    shown = environment.run(None, {"name": "GIVEN"})
    assert f"cwd={running.workspace}" in shown and "GIVEN=a default" in shown


def test_a_hidden_variable_of_the_host_does_not_reach_a_new_server(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAW_NB_TEST_KEY", "sk-host-secret")
    with McpServers(ServerList((notes_spec(),)), tmp_path, store=ServerApprovals()) as servers:
        servers.start(yes)
        servers.wait()
        environment = tools_by_name(servers)["mcp__notes__environment"]
        assert "CLAW_NB_TEST_KEY=(unset)" in environment.run(None, {"name": "CLAW_NB_TEST_KEY"})


def test_a_call_that_never_answers_times_out_and_the_server_keeps_working(running):
    tools = tools_by_name(running)
    running.tool_timeout = 1.0
    try:
        with pytest.raises(ToolTimeout, match="did not answer within 1 s"):
            tools["mcp__notes__wait_forever"].run(None, {})
    finally:
        running.tool_timeout = 120.0
    assert tools["mcp__notes__lookup"].run(None, {"key": "greeting"}).startswith("hello")


def test_resources_and_prompts_are_listed_and_read(running):
    listing = describe_servers(running)
    assert "notes  ready  (.mcp.json)" in listing
    assert "tool mcp__notes__lookup  [read]  Look up a note by its key." in listing
    assert "resource notes://readme  readme" in listing
    assert "prompt summarize(topic)" in listing
    assert read_resource(running, "notes", "notes://readme") == (
        "The notes server keeps notes by key."
    )
    assert get_prompt(running, "notes", "summarize", {"topic": "tea"}) == (
        "user: Summarize what the notes say about tea."
    )


def test_start_returns_at_once_and_close_stops_the_process(tmp_path):
    pids = tmp_path / "pids"
    servers = McpServers(
        ServerList((notes_spec(NOTES_PIDS=str(pids)),)), tmp_path, store=ServerApprovals()
    )
    started = time.perf_counter()
    servers.start(yes)
    assert time.perf_counter() - started < 1.0
    assert servers.status("notes").state is State.STARTING
    assert servers.wait()
    (pid,) = started_pids(pids)
    assert alive(pid)
    servers.close()
    assert not alive(pid)
    assert servers.status("notes").state is State.STOPPED


def test_a_server_that_dies_mid_session_is_named_as_failed(tmp_path):
    pids = tmp_path / "pids"
    with McpServers(
        ServerList((notes_spec(NOTES_PIDS=str(pids)),)), tmp_path, store=ServerApprovals()
    ) as servers:
        servers.start(yes)
        servers.wait()
        lookup = tools_by_name(servers)["mcp__notes__lookup"]
        assert lookup.run(None, {"key": "greeting"}).startswith("hello")
        (pid,) = started_pids(pids)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ToolError, match="MCP server notes stopped answering"):
            lookup.run(None, {"key": "greeting"})
        with pytest.raises(ToolError, match="MCP server notes is failed: stopped answering"):
            lookup.run(None, {"key": "greeting"})
        assert "notes-server stderr: lookup greeting" in servers.status("notes").error


def test_dead_servers_are_named_with_their_error_and_stderr(tmp_path):
    specs = (
        ServerSpec("missing", ".mcp.json", command="claw-nb-no-such-server"),
        python_spec(
            "crashes", "import sys; sys.stderr.write('bad config: no token\\n'); sys.exit(3)"
        ),
        ServerSpec("unset", ".mcp.json", command="x", env=(("T", "${CLAW_NB_UNSET_VARIABLE}"),)),
    )
    with McpServers(ServerList(specs), tmp_path, store=ServerApprovals()) as servers:
        servers.start(yes)
        assert servers.wait()
        states = {s.spec.name: (s.state, s.error) for s in servers.statuses()}
    assert states["missing"] == (State.FAILED, "command not found: claw-nb-no-such-server")
    assert states["crashes"][0] is State.FAILED
    assert "(stderr: bad config: no token)" in states["crashes"][1]
    assert states["unset"] == (
        State.FAILED,
        "needs the environment variable CLAW_NB_UNSET_VARIABLE, which is not set",
    )


def test_a_server_that_never_answers_is_given_up_after_the_startup_timeout(tmp_path):
    pids = tmp_path / "pids"
    code = (
        f"import os, sys; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); sys.stdin.read()"
    )
    servers = McpServers(
        ServerList((python_spec("silent", code),)),
        tmp_path,
        store=ServerApprovals(),
        startup_timeout=1.0,
    )
    started = time.perf_counter()
    servers.start(yes)
    assert servers.wait(30)
    assert time.perf_counter() - started < 10
    status = servers.status("silent")
    assert (status.state, status.error) == (State.FAILED, "did not answer within 1 s")
    assert servers.tools() == []
    with pytest.raises(ToolError, match="MCP server silent is failed: did not answer"):
        servers.call_tool("silent", "anything", {})
    servers.close()
    (pid,) = started_pids(pids)
    assert not alive(pid)


def test_nothing_starts_without_an_approval_or_someone_to_ask(tmp_path):
    servers = McpServers(ServerList((notes_spec(),)), tmp_path, store=ServerApprovals())
    servers.start(None)
    assert servers.status("notes").state is State.NOT_APPROVED
    servers.start(lambda spec: "no")
    assert servers.status("notes").state is State.NOT_APPROVED
    (line,) = servers.notices()
    assert "not started until you approve them: notes" in line
    assert "`claw-nb mcp approve notes`" in line and "`%claw mcp approve notes`" in line
    assert servers.notices() == []  # said once
    servers.close()


def test_always_remembers_the_approval_for_the_next_session(tmp_path):
    store = ServerApprovals()
    spec = python_spec("quick", "raise SystemExit(0)")
    with McpServers(ServerList((spec,)), tmp_path, store=store) as servers:
        servers.start(lambda s: "always")
    assert store.is_approved(spec, tmp_path)
