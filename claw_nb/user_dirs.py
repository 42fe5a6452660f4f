"""Where claw_nb keeps the user's own settings, outside every workspace, and how a file there is
replaced: standard library only, so the sandbox can name the folder to hide without importing
anything that reads files."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/claw_nb` (default `~/.config/claw_nb`): the approvals of MCP servers
    and hooks. The sandbox hides it from commands, so an agent cannot approve its own."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "claw_nb"


def save_json(path: Path, data: Any, temp_prefix: str) -> None:
    """Replace `path`, a file of the user's, with `data` as JSON in one step: written to a
    temporary file beside it (named `temp_prefix`...), then renamed over it, so a reader never
    sees half a file. A folder it creates is the user's alone (0700)."""
    import tempfile  # only a writer needs it: the sandbox imports this module to name the folder

    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=temp_prefix, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
