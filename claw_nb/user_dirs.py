"""Where claw_nb keeps the user's own settings, outside every workspace: standard library only,
so the sandbox can name the folder to hide without importing anything that reads files."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/claw_nb` (default `~/.config/claw_nb`): the approvals of MCP servers
    and hooks. The sandbox hides it from commands, so an agent cannot approve its own."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "claw_nb"
