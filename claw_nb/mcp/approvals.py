"""The user's approvals of workspace MCP servers (`claw_nb.approvals`, in their own file).

A server from `.mcp.json` or `.claw/settings.toml` runs a program on this machine (or sends
requests to a URL) with the user's rights, and either file may come from an agent or a cloned
repository. So a server starts only once the user has approved it, per workspace, server name
and `ServerSpec.fingerprint`: a changed command, argument, environment, URL or header asks again.
"""

from __future__ import annotations

from pathlib import Path

from claw_nb.approvals import ApprovalStore

APPROVALS_FILE = "mcp_approvals.json"


class ServerApprovals(ApprovalStore):
    """The approved MCP servers, in `mcp_approvals.json` of the user's config folder."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(APPROVALS_FILE, path)
