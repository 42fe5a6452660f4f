"""The ``[sandbox]`` table of ``.claw/settings.toml``, checked and coerced once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from claw_nb.errors import SandboxSettingsError
from claw_nb.records import record

_PATH_LISTS = ("writable", "hide", "read_only", "env_passthrough", "devices")
_COUNTS = ("cpu_seconds", "memory_mb", "file_size_mb", "processes", "max_output_file_mb", "nice")
_BOOLS = ("enabled", "network", "cgroup", "session")


@record(frozen=True)
class SandboxSettings:
    """The ``[sandbox]`` table of ``.claw/settings.toml``. Limits of 0 mean "no limit"."""

    enabled: bool = True  # false: run commands directly on the host (each needs approval)
    network: bool = False
    writable: tuple[str, ...] = ()  # extra writable paths (~ and workspace-relative allowed)
    hide: tuple[str, ...] = ()  # extra paths hidden inside the sandbox (globs allowed)
    # workspace paths the sandboxed command may not change: settings (ours and Claude Code's,
    # whose hooks run on the host), MCP servers, git hooks and config
    read_only: tuple[str, ...] = (".claw", ".claude", ".git/hooks", ".git/config", ".mcp.json")
    env_passthrough: tuple[str, ...] = ()  # secret-looking variables to pass anyway (globs ok)
    devices: tuple[str, ...] = ()  # host devices to expose, e.g. "/dev/nvidia*"
    cpu_seconds: int = 300
    memory_mb: int = 4096  # RLIMIT_AS (address space) per process
    file_size_mb: int = 1024
    processes: int = 512
    max_output_file_mb: int = 64
    cgroup: bool = True  # use a cgroup for process limits when one can be created
    # one bubblewrap sandbox for the session's commands (restarted when what it must show
    # changes); false: a sandbox of its own for every command (~50-90 ms more each)
    session: bool = True
    # sandboxed commands run at this niceness (0-19): the user's kernel stays responsive, and
    # the process watchdog keeps up with a fork bomb on a busy machine
    nice: int = 10
    bwrap_path: str = "bwrap"
    shell: str = "bash"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None, **overrides: Any):
        """Read the ``[sandbox]`` table of a settings dict; keyword overrides win (None = unset)."""
        table = (settings or {}).get("sandbox", {}) or {}
        if not isinstance(table, Mapping):
            raise SandboxSettingsError("[sandbox] must be a table")
        values = {**table, **{k: v for k, v in overrides.items() if v is not None}}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SandboxSettingsError(
                f"unknown [sandbox] setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(cls(), **{k: _coerce(k, v) for k, v in values.items()})


def _coerce(key: str, value: Any) -> Any:
    if key in _BOOLS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise SandboxSettingsError(f"[sandbox] {key} must be true or false, got {value!r}")
    if key in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SandboxSettingsError(f"[sandbox] {key} must be a number >= 0, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise SandboxSettingsError(
                f"[sandbox] {key} must be a number >= 0, got {value!r}"
            ) from None
        if number < 0 or (key == "nice" and number > 19):
            bound = "from 0 to 19" if key == "nice" else ">= 0"
            raise SandboxSettingsError(f"[sandbox] {key} must be a number {bound}, got {value!r}")
        return number
    if key in _PATH_LISTS:
        if isinstance(value, (str, os.PathLike)):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (str, os.PathLike)) for v in value
        ):
            raise SandboxSettingsError(f"[sandbox] {key} must be a list of strings, got {value!r}")
        return tuple(os.fspath(v) for v in value)
    if not isinstance(value, (str, os.PathLike)):
        raise SandboxSettingsError(f"[sandbox] {key} must be a string, got {value!r}")
    return os.fspath(value)
