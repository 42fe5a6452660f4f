"""The kernel's MCP servers and `%claw mcp`.

A kernel keeps one set of servers per workspace and configuration, shared by its conversations
(a rebuilt or resumed agent does not start them again) and stopped at `%unload_ext`. Nobody can
be asked on a terminal here: servers not approved yet stay off, and typing
`%claw mcp approve NAME` (which prints the command it approves) is the user's yes.
"""

from __future__ import annotations

import json
from typing import Any

from IPython.core.error import UsageError


class KernelMcpServers:
    """A mixin of ClawMagics (through Conversation): the servers, keyed by what configures them."""

    _mcp: Any = None
    _mcp_key: Any = None
    _mcp_agent: Any = None  # the servers the current agent's tools came from

    def _kernel_mcp(self, config: Any) -> Any:
        """The kernel's servers for `config` (None: it configures none); a changed `.mcp.json`
        or `[mcp_servers]` stops the old set and makes a new one (not started)."""
        from claw_nb.mcp import load_servers, servers_for

        found = load_servers(config.workspace, config.settings)
        section = json.dumps((config.settings or {}).get("mcp") or {}, sort_keys=True, default=str)
        key = (str(config.workspace), found, section)
        if key != self._mcp_key:
            self._close_mcp()
            self._mcp = servers_for(config)
            self._mcp_key = key
        return self._mcp

    def _mcp_for(self, config: Any) -> Any:
        """The servers a new agent gets (build_agent starts and waits for them)."""
        self._mcp_agent = self._kernel_mcp(config)
        return self._mcp_agent

    def _mcp_changed(self, config: Any) -> bool:
        """True when the configuration changed since the current agent was built."""
        return self._kernel_mcp(config) is not self._mcp_agent

    def _add_mcp_tools(self, agent: Any) -> None:
        """Tools of servers that became ready after `agent` was built (approved since)."""
        if self._mcp is not None and self._mcp is self._mcp_agent:
            from claw_nb.mcp import add_ready_tools

            self._mcp.start()
            add_ready_tools(agent.tools, self._mcp, wait=False)

    def _close_mcp(self) -> None:
        servers, self._mcp, self._mcp_key = self._mcp, None, None
        if servers is not None:
            servers.close()


def run_mcp_magic(magics: Any, rest: list[str]) -> None:
    """`%claw mcp [ACTION ...]` (default `list`), printed."""
    from claw_nb.mcp.commands import McpCommandError, run_command

    if magics._busy() and rest[:1] not in ([], ["list"]):
        raise UsageError("claw: a run is still going; change MCP servers when it has finished")
    servers = magics._kernel_mcp(magics.config_for())
    action, words = (rest[0], rest[1:]) if rest else ("list", [])
    try:
        print(run_command(servers, action, words, confirm=lambda question: True))
    except McpCommandError as exc:
        raise UsageError(f"%claw mcp: {exc}") from None
