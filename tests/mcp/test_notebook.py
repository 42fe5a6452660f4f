"""`%claw mcp` and `%%claw` with a workspace `.mcp.json`, in a real IPython shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from claw_nb.testing import call, text, tool_calls
from tests.mcp.conftest import alive, notes_entry, started_pids, write_mcp_json


def tool_names(request: dict) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def test_a_notebook_lists_approves_and_then_uses_a_workspace_server(
    shell, claw_env, capfd, caplog, tmp_path
):
    pids = tmp_path / "pids"
    write_mcp_json(claw_env.workspace, {"notes": notes_entry(pids)})
    shell.run_line_magic("claw", "mcp")
    listing = capfd.readouterr().out
    assert "notes  not approved  (.mcp.json)" in listing
    assert "%claw mcp approve notes" in listing

    claw_env.server.queue(text("no notes yet"))
    shell.run_cell_magic("claw", "--mode auto", "use the notes")
    assert not any(n.startswith("mcp__") for n in tool_names(claw_env.server.requests[0]))
    assert "`%claw mcp approve notes`" in caplog.text  # the one line about approving
    assert started_pids(pids) == []

    shell.run_line_magic("claw", "mcp approve notes")
    approved = capfd.readouterr().out
    assert "approved notes (.mcp.json): NOTES_PIDS=" in approved
    assert "notes: ready, 6 tools" in approved

    claw_env.server.queue(
        tool_calls(call("mcp__notes__lookup", {"key": "greeting"})), text("found it")
    )
    shell.run_cell_magic("claw", "--mode auto", "now use them")  # the same conversation
    transcript = capfd.readouterr()
    assert "-> mcp__notes__lookup" in transcript.out and "found it" in transcript.out
    assert "notes-server stderr" not in transcript.out + transcript.err
    assert claw_env.server.requests[-1]["messages"][-1]["content"] == (
        "hello from the notes server"
    )
    users = [m for m in claw_env.server.requests[-1]["messages"] if m["role"] == "user"]
    assert len(users) == 2

    (pid,) = started_pids(pids)
    shell.run_line_magic("unload_ext", "claw_nb")
    assert not alive(pid)  # the kernel's servers stop with the extension
    shell.run_line_magic("load_ext", "claw_nb")


def test_editing_the_server_list_rebuilds_the_agent_and_stops_the_old_servers(
    shell, claw_env, capfd, tmp_path
):
    pids = tmp_path / "pids"
    write_mcp_json(claw_env.workspace, {"notes": notes_entry(pids)})
    shell.run_line_magic("claw", "mcp approve notes")
    claw_env.server.queue(text("one"), text("two"))
    shell.run_cell_magic("claw", "--mode auto", "first")
    assert "mcp__notes__lookup" in tool_names(claw_env.server.requests[0])
    (pid,) = started_pids(pids)

    write_mcp_json(claw_env.workspace, {})
    shell.run_cell_magic("claw", "--mode auto", "second")
    assert not any(n.startswith("mcp__") for n in tool_names(claw_env.server.requests[1]))
    assert not alive(pid)
    users = [m["content"] for m in claw_env.server.requests[1]["messages"] if m["role"] == "user"]
    assert users == ["first", "second"]  # still one conversation


def test_mcp_subcommand_errors_are_one_line(shell, claw_env):
    with pytest.raises(UsageError, match="no MCP servers configured"):
        shell.run_line_magic("claw", "mcp approve notes")
    write_mcp_json(claw_env.workspace, {"notes": notes_entry()})
    with pytest.raises(UsageError, match="no MCP server named other; servers: notes"):
        shell.run_line_magic("claw", "mcp approve other")
    with pytest.raises(UsageError, match="unknown action 'frobnicate'"):
        shell.run_line_magic("claw", "mcp frobnicate")
