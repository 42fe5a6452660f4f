"""The workspace's `.claw/` folder: its name and what lives in it, said once.

`.claw/` holds what the user may commit (`settings.toml`, `prompts/`) next to what claw_nb
generates (the log, saved outputs, notebook backups, quarantined git metadata). The generated
part is kept out of the user's `git status` by a `.claw/.gitignore` that claw_nb writes once,
without following links (the folder may come from a cloned repository).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from claw_nb.realpaths import realpath

CLAW_DIR = ".claw"
SETTINGS_FILE = Path(CLAW_DIR) / "settings.toml"
PROMPTS_DIR = Path(CLAW_DIR) / "prompts"
OUTPUTS_DIR = Path(CLAW_DIR) / "outputs"
BACKUPS_DIR = Path(CLAW_DIR) / "backups"
QUARANTINE_DIR = Path(CLAW_DIR) / "quarantine"
DEFAULT_DB = Path(CLAW_DIR) / "claw.duckdb"

GITIGNORE = """\
# written by claw_nb: what it generates here stays out of `git status`
/.gitignore
/claw.duckdb*
/outputs/
/backups/
/quarantine/
"""


def ensure_claw_dir(workspace: Path | str) -> None:
    """Make `<workspace>/.claw/` with its `.gitignore` if missing. Never raises: a folder
    that cannot be made (read-only workspace, a link planted there) is left as it is."""
    folder = Path(realpath(workspace)) / CLAW_DIR
    with contextlib.suppress(OSError):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(".gitignore", flags, 0o644, dir_fd=fd)
            with os.fdopen(out, "w", encoding="utf-8") as f:
                f.write(GITIGNORE)
        finally:
            os.close(fd)
