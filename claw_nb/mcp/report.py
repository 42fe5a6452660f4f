"""What `claw-nb mcp` and `%claw mcp` print: servers, their state and command, tools, resources
and prompts; a resource's contents; a prompt's messages. One rendering for both shells."""

from __future__ import annotations

from typing import Any

from claw_nb.mcp.connections import McpServers, ServerStatus, State
from claw_nb.mcp.tools import render_block, render_contents, tool_name
from claw_nb.textsafe import show
from claw_nb.tools.base import ToolError

LIST_TIMEOUT = 15.0  # seconds for a server to list its resources or prompts


def describe_servers(servers: McpServers | None) -> str:
    """Every configured server with its state, source and exact command, then the tools,
    resources and prompts of the ready ones."""
    if servers is None:
        return "no MCP servers configured ([mcp_servers.NAME] in .claw/settings.toml, or .mcp.json)"
    lines = [f"note: {show(p)}" for p in servers.servers.problems]
    for status in servers.statuses():
        lines.extend(_server_lines(servers, status))
    return "\n".join(lines)


def _server_lines(servers: McpServers, status: ServerStatus) -> list[str]:
    spec = status.spec
    head = f"{spec.name}  {status.state.value}  ({spec.source})"
    if status.error:
        head += f": {status.error}"
    lines = [show(head)]
    if spec.problem is None:
        lines.append("  " + show(spec.describe()))
    if status.state is State.NOT_APPROVED:
        lines.append(
            f"  approve: claw-nb mcp approve {spec.name}  (notebook: %claw mcp approve {spec.name})"
        )
    if status.state is not State.READY:
        return lines
    for listed in status.listed:
        kind = "read" if _read_only(servers, listed) else "mcp"
        summary = (listed.description or "").strip().split("\n")[0][:70]
        lines.append(show(f"  tool {tool_name(spec.name, listed.name)}  [{kind}]  {summary}"))
    capabilities = getattr(status.client, "server_capabilities", None)
    if getattr(capabilities, "resources", None) is not None:
        for resource in _listing(servers, spec.name, "list_resources", "resources"):
            lines.append(show(f"  resource {resource.uri}  {resource.name}"))
    if getattr(capabilities, "prompts", None) is not None:
        for prompt in _listing(servers, spec.name, "list_prompts", "prompts"):
            names = ", ".join(a.name + ("" if a.required else "?") for a in prompt.arguments or [])
            lines.append(
                show(f"  prompt {prompt.name}({names})  {(prompt.description or '')[:60]}")
            )
    return lines


def _read_only(servers: McpServers, listed: Any) -> bool:
    hint = getattr(getattr(listed, "annotations", None), "read_only_hint", False)
    return bool(hint) and servers.trust_read_only


def _listing(servers: McpServers, name: str, method: str, field: str) -> list[Any]:
    try:
        page = servers.request(name, lambda client: getattr(client, method)(), LIST_TIMEOUT)
    except ToolError:
        return []
    return list(getattr(page, field, []) or [])


def read_resource(servers: McpServers, server: str, uri: str) -> str:
    """A resource's contents as text (ToolError when the server or the resource fails)."""
    result = servers.request(
        server, lambda client: client.read_resource(uri), what=f"{server} {uri}"
    )
    return "\n".join(render_contents(c) for c in result.contents)


def get_prompt(servers: McpServers, server: str, name: str, arguments: dict[str, str]) -> str:
    """A prompt's messages, one `role: text` block each."""
    result = servers.request(
        server, lambda client: client.get_prompt(name, arguments), what=f"{server} prompt {name}"
    )
    return "\n\n".join(f"{m.role}: {render_block(m.content)}" for m in result.messages)
