"""Which servers a workspace configures: `.claw/settings.toml` and Claude Code's `.mcp.json`;
and a client's servers next to them."""

from __future__ import annotations

import os

import pytest

from claw_nb.config import load_config
from claw_nb.mcp.specs import MissingVariable, ServerSpec, client_server, load_servers
from tests.mcp.conftest import write_mcp_json


def servers(workspace):
    config = load_config(workspace)
    return load_servers(config.workspace, config.settings)


def test_a_claude_code_mcp_json_is_read_as_it_is(workspace):
    write_mcp_json(
        workspace,
        {
            "github": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github"],
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
            },
            "docs": {"type": "http", "url": "https://example.test/mcp", "headers": {"X-Key": "1"}},
            "events": {"type": "sse", "url": "https://example.test/sse"},
        },
    )
    found = servers(workspace)
    github, docs, events = found.servers
    assert (github.transport, github.command, github.source) == ("stdio", "npx", ".mcp.json")
    assert github.args == ("-y", "@modelcontextprotocol/server-github")
    assert github.env == (("GITHUB_PERSONAL_ACCESS_TOKEN", "${GITHUB_TOKEN}"),)
    assert (docs.transport, docs.url, docs.headers) == (
        "http",
        "https://example.test/mcp",
        (("X-Key", "1"),),
    )
    assert events.transport == "sse"
    assert found.problems == ()


def test_settings_file_servers_come_first_and_win_a_name_clash(workspace):
    (workspace / ".claw").mkdir()
    (workspace / ".claw" / "settings.toml").write_text(
        '[mcp_servers.notes]\ncommand = "notes-server"\nargs = ["--db", "x"]\n'
        '[mcp_servers.remote]\nurl = "http://127.0.0.1:9/mcp"\nheaders = { A = "b" }\n'
    )
    write_mcp_json(workspace, {"notes": {"command": "other"}, "extra": {"command": "extra"}})
    found = servers(workspace)
    assert found.names() == ["notes", "remote", "extra"]
    assert found.get("notes").command == "notes-server"
    assert found.get("notes").source == ".claw/settings.toml"
    assert found.get("remote").transport == "http"
    assert found.problems == (
        ".mcp.json: server 'notes' is also in .claw/settings.toml; that one is used",
    )


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"args": ["x"]}, "a stdio server needs a command"),
        ({"type": "websocket", "url": "ws://x"}, "type 'websocket' is not one of stdio, http, sse"),
        ({"type": "http", "url": "file:///etc/passwd"}, "a http server needs an http(s) url"),
        ({"command": "x", "args": "not a list"}, "args must be a list of strings"),
        ({"command": "x", "env": ["A=1"]}, "env must be a table of names to strings"),
        ("npx server", "expected a table of settings (command/args/env or url/headers)"),
    ],
)
def test_a_malformed_entry_is_kept_with_its_problem(workspace, entry, problem):
    write_mcp_json(workspace, {"bad": entry, "good": {"command": "ok"}})
    bad, good = servers(workspace).servers
    assert bad.problem == problem
    assert good.problem is None


def test_a_bad_server_name_is_a_problem_not_a_crash(workspace):
    write_mcp_json(workspace, {"no spaces please": {"command": "x"}})
    (spec,) = servers(workspace).servers
    assert "letters, digits" in spec.problem


def test_an_mcp_json_that_is_not_json_is_one_problem(workspace):
    (workspace / ".mcp.json").write_text("{not json")
    found = servers(workspace)
    assert found.servers == ()
    assert found.problems[0].startswith(".mcp.json: not valid JSON")


def test_an_mcp_json_linked_out_of_the_workspace_is_not_read(workspace, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"mcpServers": {"x": {"command": "evil"}}}')
    os.symlink(outside, workspace / ".mcp.json")
    found = servers(workspace)
    assert found.servers == ()
    assert found.problems[0].startswith(".mcp.json: not read")


def test_variables_are_expanded_at_launch_not_in_what_is_approved():
    spec = ServerSpec(
        "gh",
        ".mcp.json",
        command="${TOOLS:-/opt/tools}/gh-server",
        args=("--token", "${TOKEN}"),
        env=(("GITHUB_TOKEN", "${TOKEN}"),),
    )
    launched = spec.launch({"TOKEN": "t0ps3cret"})
    assert launched.command == "/opt/tools/gh-server"
    assert launched.args == ("--token", "t0ps3cret")
    assert launched.env == (("GITHUB_TOKEN", "t0ps3cret"),)
    assert "${TOKEN}" in spec.describe() and "t0ps3cret" not in spec.describe()
    with pytest.raises(MissingVariable, match="TOKEN, which is not set"):
        spec.launch({})


def test_the_fingerprint_changes_with_anything_that_decides_what_runs(workspace, tmp_path):
    base = ServerSpec("s", ".mcp.json", command="srv", args=("a",), env=(("A", "1"),))
    changed = [
        ServerSpec("s", ".mcp.json", command="srv2", args=("a",), env=(("A", "1"),)),
        ServerSpec("s", ".mcp.json", command="srv", args=("b",), env=(("A", "1"),)),
        ServerSpec("s", ".mcp.json", command="srv", args=("a",), env=(("A", "2"),)),
        ServerSpec("t", ".mcp.json", command="srv", args=("a",), env=(("A", "1"),)),
    ]
    prints = {base.fingerprint(workspace)} | {c.fingerprint(workspace) for c in changed}
    assert len(prints) == 5
    other = tmp_path / "other"
    other.mkdir()
    assert base.fingerprint(other) != base.fingerprint(workspace)
    same_elsewhere = ServerSpec(
        "s", ".claw/settings.toml", command="srv", args=("a",), env=(("A", "1"),)
    )
    assert same_elsewhere.fingerprint(workspace) == base.fingerprint(workspace)


def test_describe_shows_the_exact_command_line():
    spec = ServerSpec(
        "s", ".mcp.json", command="node", args=("server.js", "a b"), env=(("K", "v w"),)
    )
    assert spec.describe() == "K='v w' node server.js 'a b'"
    remote = ServerSpec(
        "r", ".mcp.json", transport="http", url="https://h/mcp", headers=(("A", "b"),)
    )
    assert remote.describe() == "http https://h/mcp -H 'A: b'"


def test_pyproject_cannot_configure_servers(workspace):
    (workspace / "pyproject.toml").write_text('[tool.claw.mcp_servers.x]\ncommand = "evil"\n')
    assert servers(workspace).servers == ()


def test_a_client_server_comes_first_and_wins_a_name_clash_with_a_workspace_one(workspace):
    write_mcp_json(workspace, {"notes": {"command": "ws-notes"}, "docs": {"command": "ws-docs"}})
    mine = client_server("notes", "Zed (ACP)", command="/opt/notes")
    found = servers(workspace).with_client([mine])
    assert [(s.name, s.command, s.origin) for s in found.servers] == [
        ("notes", "/opt/notes", "client"),
        ("docs", "ws-docs", "workspace"),
    ]
    assert found.problems == (
        ".mcp.json: server 'notes' is also passed by Zed (ACP); that one is used",
    )


def test_a_client_server_is_launched_as_given_without_expanding_variables():
    spec = client_server("docs", "Zed (ACP)", transport="http", url="https://x.test/${PATH}")
    assert spec.launch({"PATH": "/bin"}).url == "https://x.test/${PATH}"
