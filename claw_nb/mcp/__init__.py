"""MCP servers as tool sources: configured in the workspace and approved by the user, or passed by
the client running claw (ACP), started in the background, their tools added to the agent's
registry (docs/mcp.md).

Importing this package is cheap; the `mcp` client library (~1.5 s to import) loads on the
background thread only when a workspace configures a server.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from claw_nb.lazy_logger import get_logger
from claw_nb.mcp.specs import ServerList, ServerSpec, load_servers

if TYPE_CHECKING:  # pragma: no cover
    from claw_nb.mcp.connections import McpServers, ServerApprover

__all__ = [
    "McpServers",
    "ServerList",
    "ServerSpec",
    "add_ready_tools",
    "load_servers",
    "servers_for",
    "start_servers",
]

logger = get_logger("claw_nb.mcp")
DEFAULT_STARTUP_TIMEOUT = 30.0  # seconds, as Claude Code; its MCP_TIMEOUT (ms) overrides
DEFAULT_TOOL_TIMEOUT = 120.0  # seconds per call; MCP_TOOL_TIMEOUT (ms) overrides
MAX_STARTUP_TIMEOUT = 120.0  # a settings file cannot make a session wait longer


def __getattr__(name: str) -> Any:
    """`McpServers` and friends load with the asyncio machinery, on first use (PEP 562)."""
    if name in ("McpServers", "ServerStatus", "State"):
        from claw_nb.mcp import connections

        return getattr(connections, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def servers_for(config: Any, client: Sequence[ServerSpec] = ()) -> McpServers | None:
    """The workspace's servers and the `client`'s (`ServerList.with_client`), not started
    (None when there are none)."""
    from claw_nb.mcp.connections import McpServers

    found = load_servers(config.workspace, config.settings).with_client(client)
    if not found.servers and not found.problems:
        return None
    section = (config.settings or {}).get("mcp") or {}
    return McpServers(
        found,
        config.workspace,
        startup_timeout=min(
            _seconds("MCP_TIMEOUT", section.get("startup_timeout"), DEFAULT_STARTUP_TIMEOUT),
            MAX_STARTUP_TIMEOUT,
        ),
        tool_timeout=_seconds(
            "MCP_TOOL_TIMEOUT", section.get("tool_timeout"), DEFAULT_TOOL_TIMEOUT
        ),
        trust_read_only=bool(section.get("trust_read_only_hint", True)),
    )


def start_servers(
    config: Any,
    servers: McpServers | None,
    ask: ServerApprover | None,
    client: Sequence[ServerSpec] = (),
) -> tuple[McpServers | None, list[McpServers]]:
    """(the servers for an agent, the ones the agent owns): `servers` when a shell keeps them
    (a notebook kernel), else the workspace's and the `client`'s, started now in the
    background."""
    if servers is not None:
        servers.start(ask)
        return servers, []
    made = servers_for(config, client)
    if made is None:
        return None, []
    made.start(ask)
    return made, [made]


def add_ready_tools(registry: Any, servers: McpServers | None, *, wait: bool = True) -> list[str]:
    """Add the tools of every ready server to `registry` (waiting, bounded, for the ones still
    starting when `wait`), tell the user what did not start, and return the names added."""
    if servers is None:
        return []
    if wait:
        servers.wait()
    from claw_nb.textsafe import show

    for line in servers.notices():
        logger.warning("claw_nb: %s", show(line))  # a server's stderr is in some
    added = []
    for tool in servers.tools():
        if tool.name not in registry:
            registry.add(tool)
            added.append(tool.name)
    return added


def _seconds(env: str, setting: Any, default: float) -> float:
    """A timeout: the environment's milliseconds (as Claude Code reads them), else the settings
    file's seconds, else the default."""
    raw = os.environ.get(env)
    try:
        if raw:
            return max(0.1, float(raw) / 1000)
        if setting is not None:
            return max(0.1, float(setting))
    except (TypeError, ValueError):
        logger.warning("claw_nb: ignored a bad MCP timeout (%s or [mcp]): %r", env, raw or setting)
    return default
