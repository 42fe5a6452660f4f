"""The actions behind `claw-nb mcp ACTION` and `%claw mcp ACTION`, the same in both shells:
list, approve, revoke, read (a resource), prompt. Each returns the text to print."""

from __future__ import annotations

from collections.abc import Callable

from claw_nb.errors import ClawError
from claw_nb.mcp.connections import McpServers, State
from claw_nb.mcp.report import describe_servers, get_prompt, read_resource
from claw_nb.textsafe import show
from claw_nb.tools.base import ToolError

ACTIONS = ("list", "approve", "revoke", "read", "prompt")
USAGE = (
    "list | approve NAME... | revoke NAME... | read SERVER URI | prompt SERVER NAME [KEY=VALUE...]"
)


class McpCommandError(ClawError):
    """A `mcp` action that cannot be done; the message says why and what to type."""


def run_command(
    servers: McpServers | None,
    action: str,
    words: list[str],
    *,
    confirm: Callable[[str], bool],
) -> str:
    """Do `action` with `words`; `confirm(question)` asks the person before an approval."""
    if action not in ACTIONS:
        raise McpCommandError(f"unknown action {action!r}; use {USAGE}")
    if action == "list":
        if servers is not None:
            servers.start()
            servers.wait()
        return describe_servers(servers)
    if servers is None:
        raise McpCommandError(
            "no MCP servers configured ([mcp_servers.NAME] in .claw/settings.toml, or .mcp.json)"
        )
    if action == "approve":
        return _approve(servers, _names(servers, words, action), confirm)
    if action == "revoke":
        names = _names(servers, words, action, configured=False)
        counts = {n: servers.store.revoke(n, servers.workspace) for n in names}
        return "\n".join(f"revoked {c} approval(s) of {n}" for n, c in counts.items())
    return _use(servers, action, words)


def _names(
    servers: McpServers, words: list[str], action: str, *, configured: bool = True
) -> list[str]:
    if not words:
        raise McpCommandError(f"{action}: name the servers (`list` shows them)")
    unknown = [w for w in words if servers.servers.get(w) is None]
    if unknown and configured:
        known = ", ".join(servers.servers.names()) or "(none)"
        raise McpCommandError(f"no MCP server named {', '.join(unknown)}; servers: {known}")
    return words


def _approve(servers: McpServers, names: list[str], confirm: Callable[[str], bool]) -> str:
    lines: list[str] = []
    approved: list[str] = []
    for name in names:
        spec = servers.servers.get(name)
        if spec.problem is not None:
            lines.append(f"{name} ({spec.source}) cannot start: {spec.problem}")
            continue
        shown = show(spec.describe())  # control characters escaped: nothing can hide a command
        question = f"approve MCP server {name} ({spec.source}): {shown}"
        if not confirm(question):
            lines.append(f"not approved: {name}")
            continue
        servers.store.approve(spec, servers.workspace)
        approved.append(name)
        lines.append(f"approved {name} ({spec.source}): {shown}")
    if approved:
        servers.start(names=approved)
        servers.wait()
        for name in approved:
            status = servers.status(name)
            state = status.state.value + (f": {status.error}" if status.error else "")
            if status.state is State.READY:
                state += f", {len(status.listed)} tools"
            lines.append(show(f"{name}: {state}"))
    return "\n".join(lines)


def _use(servers: McpServers, action: str, words: list[str]) -> str:
    if len(words) < 2:
        raise McpCommandError(f"{action}: {USAGE}")
    server = _names(servers, words[:1], action)[0]
    servers.start(names=[server])
    servers.wait()
    try:
        if action == "read":
            if len(words) != 2:
                raise McpCommandError("read: give SERVER URI")
            return read_resource(servers, server, words[1])
        arguments = {}
        for word in words[2:]:
            key, eq, value = word.partition("=")
            if not eq:
                raise McpCommandError(f"prompt: write arguments as KEY=VALUE, got {word!r}")
            arguments[key] = value
        return get_prompt(servers, server, words[1], arguments)
    except ToolError as exc:
        raise McpCommandError(str(exc)) from None
