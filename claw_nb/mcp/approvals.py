"""The user's approvals of workspace MCP servers, kept outside every workspace.

A server from `.mcp.json` or `.claw/settings.toml` runs a program on this machine (or sends
requests to a URL) with the user's rights, and either file may come from an agent or a cloned
repository. So a server starts only once the user has approved it; the approval is remembered
per workspace, server name and `ServerSpec.fingerprint`, so a changed command, argument,
environment, URL or header asks again. The file lives in `$XDG_CONFIG_HOME/claw_nb/` (default
`~/.config/claw_nb/`), which the sandbox hides from commands, and stores only hashes and what
was shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from claw_nb.mcp.specs import ServerSpec
from claw_nb.untrusted import read_regular_file
from claw_nb.user_dirs import config_dir

APPROVALS_FILE = "mcp_approvals.json"
MAX_APPROVALS_BYTES = 4 << 20
_lock = threading.Lock()


class ApprovalStore:
    """Approved servers by fingerprint; read on every question, written atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / APPROVALS_FILE

    def is_approved(self, spec: ServerSpec, workspace: Path | str) -> bool:
        return spec.fingerprint(workspace) in self._load()

    def approve(self, spec: ServerSpec, workspace: Path | str) -> None:
        """Remember that the user approved `spec` in `workspace`, as it is now."""
        entry = {
            "workspace": os.path.realpath(workspace),
            "server": spec.name,
            "source": spec.source,
            "shown": spec.describe(),
            "approved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with _lock:
            data = self._load()
            data[spec.fingerprint(workspace)] = entry
            self._save(data)

    def revoke(self, name: str, workspace: Path | str) -> int:
        """Forget every approval of server `name` in `workspace`; how many there were."""
        root = os.path.realpath(workspace)
        with _lock:
            data = self._load()
            gone = [
                k for k, v in data.items() if v.get("server") == name and v.get("workspace") == root
            ]
            for key in gone:
                del data[key]
            if gone:
                self._save(data)
        return len(gone)

    def _load(self) -> dict[str, dict[str, Any]]:
        # a regular file, not a link, never blocking: if the workspace holds the config folder
        # (a workspace that is the home directory), the agent must not point it elsewhere
        raw = read_regular_file(self.path, max_bytes=MAX_APPROVALS_BYTES)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        approved = data.get("approved") if isinstance(data, dict) else None
        return {k: v for k, v in (approved or {}).items() if isinstance(v, dict)}

    def _save(self, approved: dict[str, dict[str, Any]]) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=".approvals-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"approved": approved}, f, indent=1, sort_keys=True)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
