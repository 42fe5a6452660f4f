"""A hook program for tests, and the settings files that configure it.

`hook_command(...)` is a command line running `fake_hook.py` with what it should do: record
the JSON it got on stdin (one line per run in `record`), print `stdout` / `stderr`, exit with
`exit`, and with `first` do that only on its first run (later runs exit 0 silently).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

FAKE_HOOK = Path(__file__).with_name("fake_hook.py")


def hook_command(
    record: Path,
    *,
    exit: int = 0,
    stdout: Any = "",
    stderr: str = "",
    first: bool = False,
    hang: bool = False,
    pid_file: Path | None = None,
) -> str:
    plan = {
        "record": str(record),
        "exit": exit,
        "stdout": stdout if isinstance(stdout, str) else json.dumps(stdout),
        "stderr": stderr,
        "first": first,
        "hang": hang,
        "pid_file": str(pid_file) if pid_file else None,
    }
    return " ".join(shlex.quote(p) for p in (sys.executable, str(FAKE_HOOK), json.dumps(plan)))


def write_claw_hooks(
    workspace: Path, hooks: dict[str, list[dict[str, Any]]], extra: str = ""
) -> None:
    """`.claw/settings.toml` with these `[[hooks.EVENT]]` tables (JSON strings are TOML strings)."""
    lines = [extra] if extra else []
    for event, entries in hooks.items():
        for entry in entries:
            lines.append(f"[[hooks.{event}]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    folder = workspace / ".claw"
    folder.mkdir(exist_ok=True)
    (folder / "settings.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_claude_hooks(workspace: Path, hooks: dict[str, Any], name: str = "settings.json") -> None:
    folder = workspace / ".claude"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"hooks": hooks}, indent=2), encoding="utf-8")


def private_user_dirs(monkeypatch, tmp_path: Path) -> Path:
    """Hook approvals in a temporary config folder, never the user's own, and a temporary HOME
    for every hook started here (a hook inherits the environment). Returns the config folder."""
    config = tmp_path / "user-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return config


def approve_hooks(workspace: Path) -> list[str]:
    """Approve every hook the workspace configures, as `claw-nb hooks approve` does; their ids."""
    from claw_nb.config import load_config
    from claw_nb.hooks import configured_hooks
    from claw_nb.hooks.trust import HookApprovals

    store, specs = HookApprovals(), configured_hooks(load_config(workspace))
    for spec in specs:
        store.approve(spec, workspace)
    return [spec.name for spec in specs]


def recorded(record: Path) -> list[dict[str, Any]]:
    """The JSON each run of the hooks writing to `record` was given, in order."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
