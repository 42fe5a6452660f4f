"""The MCP servers an ACP client passes, as claw_nb.mcp specs (claw_nb/acp/mcp_servers.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("acp")

from acp.schema import (  # noqa: E402
    EnvVariable,
    HttpHeader,
    HttpMcpServer,
    McpServerStdio,
    SseMcpServer,
)

from claw_nb.acp.mcp_servers import client_server_specs  # noqa: E402


def test_stdio_http_and_sse_servers_become_client_specs_with_their_env_and_headers():
    specs, left_out = client_server_specs(
        [
            McpServerStdio(
                name="notes",
                command="/usr/bin/notes",
                args=["--db", "n.sqlite"],
                env=[EnvVariable(name="TOKEN", value="${LITERAL}")],
            ),
            HttpMcpServer(
                type="http",
                name="docs",
                url="http://127.0.0.1:9/mcp",
                headers=[HttpHeader(name="Authorization", value="Bearer t")],
            ),
            SseMcpServer(type="sse", name="events", url="http://127.0.0.1:9/sse", headers=[]),
        ],
        "Zed",
    )
    assert left_out == []
    notes, docs, events = specs
    assert (notes.transport, notes.command, notes.args) == (
        "stdio",
        "/usr/bin/notes",
        ("--db", "n.sqlite"),
    )
    assert notes.env == (("TOKEN", "${LITERAL}"),)
    assert notes.launch({}) == notes  # the client's values are used as given
    assert (docs.transport, docs.url, docs.headers) == (
        "http",
        "http://127.0.0.1:9/mcp",
        (("Authorization", "Bearer t"),),
    )
    assert (events.transport, events.url) == ("sse", "http://127.0.0.1:9/sse")
    assert {s.origin for s in specs} == {"client"} and {s.source for s in specs} == {"Zed (ACP)"}


def test_a_readable_name_becomes_a_tool_name_prefix():
    jupyter = HttpMcpServer(
        type="http", name="Jupyter MCP Server", url="http://localhost:3001/mcp", headers=[]
    )
    (spec,), _ = client_server_specs([jupyter], "Jupyter AI")
    assert spec.name == "Jupyter_MCP_Server"


def test_unsupported_servers_and_a_second_server_of_the_same_name_are_left_out_with_a_line():
    over_acp = SimpleNamespace(type="acp", name="inline")
    first = McpServerStdio(name="my tools", command="/bin/a", args=[], env=[])
    second = McpServerStdio(name="my/tools", command="/bin/b", args=[], env=[])
    specs, left_out = client_server_specs([over_acp, first, second], "Zed")
    assert [s.command for s in specs] == ["/bin/a"]
    assert left_out == [
        "MCP server 'inline' from Zed (ACP) not used: claw connects to stdio, http and sse "
        "servers, not 'acp'",
        "MCP server 'my/tools' from Zed (ACP) not used: another server there is also named "
        "'my_tools'",
    ]


def test_a_server_without_an_http_url_is_kept_as_invalid_and_never_starts():
    odd = HttpMcpServer(type="http", name="odd", url="file:///etc/passwd", headers=[])
    (spec,), _ = client_server_specs([odd], "Zed")
    assert spec.problem == "a http server needs an http(s) url, got 'file:///etc/passwd'"
