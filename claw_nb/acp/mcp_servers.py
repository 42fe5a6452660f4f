"""The MCP servers an ACP client passes to `session/new` / `session/load`, as claw_nb.mcp specs.

They come from the user's own client configuration (Zed's `context_servers`, Jupyter AI's
built-in server and `.jupyter/mcp_settings.json`), so they start without claw's workspace
approval (`client_server`) and win a name clash with a workspace server. The SDK's schema types
are the same in agent-client-protocol 0.11 and 0.12: `McpServerStdio` (name, command, args,
env), `HttpMcpServer` / `SseMcpServer` (name, url, headers); the unstable `AcpMcpServer`
(tools over the ACP connection itself) is not supported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acp.schema import HttpMcpServer, McpServerStdio, SseMcpServer

from claw_nb.mcp.specs import ServerSpec, client_server


def client_server_specs(
    servers: Iterable[Any] | None, client_name: str
) -> tuple[tuple[ServerSpec, ...], list[str]]:
    """(the specs to start, one line for each server left out and why)."""
    source = f"{client_name} (ACP)"
    specs: dict[str, ServerSpec] = {}
    notes: list[str] = []
    for server in servers or ():
        spec = _spec(server, source)
        if spec is None:
            kind = getattr(server, "type", None) or type(server).__name__
            notes.append(
                f"MCP server {getattr(server, 'name', '?')!r} from {source} not used: "
                f"claw connects to stdio, http and sse servers, not {kind!r}"
            )
        elif spec.name in specs:
            notes.append(
                f"MCP server {server.name!r} from {source} not used: "
                f"another server there is also named {spec.name!r}"
            )
        else:
            specs[spec.name] = spec
    return tuple(specs.values()), notes


def _spec(server: Any, source: str) -> ServerSpec | None:
    if isinstance(server, McpServerStdio):
        return client_server(
            server.name,
            source,
            command=server.command,
            args=tuple(server.args),
            env=tuple((v.name, v.value) for v in server.env),
        )
    if isinstance(server, (HttpMcpServer, SseMcpServer)):
        return client_server(
            server.name,
            source,
            transport="http" if isinstance(server, HttpMcpServer) else "sse",
            url=server.url,
            headers=tuple((h.name, h.value) for h in server.headers),
        )
    return None
