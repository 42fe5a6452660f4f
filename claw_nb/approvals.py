"""The user's approvals of what a workspace asks to run on the host, kept outside every workspace.

A workspace's MCP servers (`.mcp.json`, `[mcp_servers]`) and hooks (`[[hooks.EVENT]]`,
`.claude/settings.json`) are commands that would run with the user's rights, and the files
naming them may come from an agent or a cloned repository. So each runs only once the user has
approved it, and the approval is remembered per workspace and `fingerprint`: whatever decides
what would run is in the fingerprint, so a change asks again. The files live in
`$XDG_CONFIG_HOME/claw_nb/` (default `~/.config/claw_nb/`), which the sandbox hides from
commands, one file per kind, and store only hashes and what was shown.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from claw_nb.untrusted import read_regular_file
from claw_nb.user_dirs import config_dir, save_json

MAX_APPROVALS_BYTES = 4 << 20
# What a person answers about something not approved yet: approve and remember it, run it
# this once (this session), or leave it off.
Answer = Literal["always", "yes", "no"]
_lock = threading.Lock()


class Approvable(Protocol):
    """Something a workspace asks to run that the user approves: a server, a hook."""

    @property
    def name(self) -> str: ...  # what the user types to approve or revoke it

    @property
    def source(self) -> str: ...  # the file that asks for it, relative to the workspace

    def describe(self) -> str:
        """What runs, exactly, as shown to the user (and stored with the approval)."""
        ...

    def fingerprint(self, workspace: Path | str) -> str:
        """A hash of the workspace and everything that decides what runs."""
        ...


class ApprovalStore:
    """Approved things of one kind (`file_name`) by fingerprint; read on every question,
    written atomically."""

    def __init__(self, file_name: str, path: Path | None = None) -> None:
        self.path = path or config_dir() / file_name

    def is_approved(self, item: Approvable, workspace: Path | str) -> bool:
        return item.fingerprint(workspace) in self._load()

    def approve(self, item: Approvable, workspace: Path | str) -> None:
        """Remember that the user approved `item` in `workspace`, as it is now."""
        entry = {
            "workspace": os.path.realpath(workspace),
            "name": item.name,
            "source": item.source,
            "shown": item.describe(),
            "approved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with _lock:
            data = self._load()
            data[item.fingerprint(workspace)] = entry
            self._save(data)

    def revoke(self, name: str | None, workspace: Path | str) -> int:
        """Forget every approval of `name` (None: of everything) in `workspace`; how many
        there were."""
        root = os.path.realpath(workspace)
        with _lock:
            data = self._load()
            gone = [
                key
                for key, entry in data.items()
                if entry.get("workspace") == root
                # files written before hooks had approvals call the name "server"
                and name in (None, entry.get("name", entry.get("server")))
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
        if not isinstance(approved, dict):
            return {}
        return {k: v for k, v in approved.items() if isinstance(v, dict)}

    def _save(self, approved: dict[str, dict[str, Any]]) -> None:
        save_json(self.path, {"approved": approved}, temp_prefix=".approvals-")
