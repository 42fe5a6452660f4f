"""Adopting a result: the prompt goes to `.claw/prompts/NAME.md`, the settings that use it to
`.claw/settings.toml`, so every later session in the workspace runs (and logs) it by name.
`.claw/prompts/NAME.toml` holds the whole result as a lab variant file (prompt, settings, tool
descriptions), to measure it again later with `Variant.from_file`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import CLAW_DIR, SETTINGS_FILE
from claw_nb.config import MAX_SETTINGS_BYTES
from claw_nb.errors import ConfigError
from claw_nb.tools.base import ToolError
from claw_nb.tools.safe_io import write_atomic
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

SETTING_FIELDS = ("temperature", "max_steps", "context_window", "max_tool_result_chars")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def set_top_level(text: str, values: Mapping[str, Any]) -> str:
    """TOML text with top-level `key = value` lines replaced or added (before any [table])."""
    lines = text.splitlines()
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
    head, tail = lines[:first_table], lines[first_table:]
    for key, value in values.items():
        line = f"{key} = {_toml_value(value)}"
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, existing in enumerate(head):
            if pattern.match(existing):
                head[i] = line
                break
        else:
            head.append(line)
    if tail and head and head[-1].strip():
        head.append("")
    return "\n".join(head + tail) + "\n"


def adopt(
    name: str,
    *,
    system_prompt: str | None = None,
    tool_descriptions: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    workspace: Path | None = None,
) -> Path:
    """Write the prompt and settings into the workspace; returns the settings file."""
    if not NAME.match(name):
        raise ConfigError(f"prompt name '{name}' must be letters, digits, '-', '_' or '.'")
    workspace = Path(os.path.realpath(workspace or Path.cwd()))
    claw = workspace / CLAW_DIR
    values: dict[str, Any] = {k: v for k, v in (settings or {}).items() if v is not None}
    unknown = set(values) - set(SETTING_FIELDS)
    if unknown:
        raise ConfigError(f"cannot adopt setting(s) {sorted(unknown)}; known: {SETTING_FIELDS}")
    if system_prompt is not None:
        _write(workspace, claw / "prompts" / f"{name}.md", system_prompt)
        # A workspace-relative path: claw_nb resolves it inside `.claw/prompts/` and logs the
        # prompt by its name (the file's stem) on every session.
        values = {"prompt_name": f".claw/prompts/{name}.md", **values}
    # The whole result as a lab variant file, so it can be measured again (Variant.from_file).
    variant = set_top_level("", {k: v for k, v in values.items() if k != "prompt_name"})
    if system_prompt is not None:
        variant = set_top_level(variant, {"system_prompt_file": f"{name}.md"})
    if tool_descriptions:
        variant += "\n[tool_descriptions]\n" + "".join(
            f"{_toml_value(k)} = {_toml_value(v)}\n" for k, v in tool_descriptions.items()
        )
    _write(workspace, claw / "prompts" / f"{name}.toml", variant)
    settings_file = claw / "settings.toml"
    try:
        old = read_untrusted_text(workspace, SETTINGS_FILE, max_bytes=MAX_SETTINGS_BYTES)
    except UntrustedPathRefused as exc:
        raise ConfigError(f"{settings_file}: {exc}; make it a regular file") from None
    _write(workspace, settings_file, set_top_level(old or "", values))
    return settings_file


def _write(workspace: Path, path: Path, text: str) -> None:
    """Write inside the workspace without following a link someone planted on the way."""
    try:
        write_atomic(workspace, path, text.encode("utf-8"))
    except ToolError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None


def adopt_variant(variant: Any, name: str | None = None, workspace: Path | None = None) -> Path:
    """Adopt a lab variant: its prompt (if it has one) and its settings."""
    return adopt(
        name or variant.name,
        system_prompt=variant.system_prompt,
        tool_descriptions=variant.tool_descriptions or None,
        settings={k: getattr(variant, k, None) for k in SETTING_FIELDS},
        workspace=workspace,
    )
