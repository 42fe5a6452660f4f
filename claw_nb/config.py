"""Settings for a run: model, endpoint, limits, workspace, log file.

Resolution order, last wins: built-in defaults, the workspace settings file
(`.claw/settings.toml`, or `[tool.claw]` in `pyproject.toml`), environment variables
(`CLAW_MODEL`, `CLAW_API_BASE`, `CLAW_API_KEY`, `CLAW_DB`), then explicit options.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "auto"  # claw_nb.model.resolve: a local server, else the embedded model
OLLAMA_DEFAULT_BASE = "http://localhost:11434"
SETTINGS_FILE = Path(".claw") / "settings.toml"
SECURITY_SECTIONS = ("sandbox", "permissions")

ENV_VARS = {"model": "CLAW_MODEL", "api_base": "CLAW_API_BASE", "api_key": "CLAW_API_KEY"}


@dataclass(frozen=True)
class ClawConfig:
    """Everything a run needs to know, resolved once by a shell (CLI or magic)."""

    model: str = DEFAULT_MODEL
    api_base: str | None = None
    api_key: str | None = None
    workspace: Path = field(default_factory=Path.cwd)
    db_path: Path | None = None
    max_steps: int = 50
    stream: bool = True
    num_ctx: int = 32768  # passed to Ollama so it does not silently cut the prompt
    temperature: float | None = None
    request_timeout: float = 600.0
    max_retries: int = 4
    retry_base_delay: float = 1.0
    max_tool_result_chars: int = 40_000
    command_timeout: float = 120.0
    prompt_name: str = "default"
    # Context management (claw_nb.context): token budgets, output handles, compaction.
    context_management: bool = True
    context_window: int | None = None  # tokens; None: num_ctx for Ollama, else LiteLLM's model info
    compact_at: float = 0.8  # compact when a request would pass this share of the window
    reserve_tokens: int | None = None  # kept free for the reply; None: min(4096, window / 5)
    keep_recent_turns: int = 4  # most recent steps compaction keeps verbatim
    tokenizer: str | None = None  # tokenizer.json path or Hugging Face id to count tokens with
    settings: dict[str, Any] = field(default_factory=dict)  # the raw file, for other sections

    def with_options(self, **options: Any) -> ClawConfig:
        """A copy with every option that is not None applied, values checked."""
        known = {f.name for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in options.items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown setting '{key}'; known: {', '.join(sorted(known))}")
            clean[key] = _coerce(key, value)
        return replace(self, **clean)

    @property
    def resolved_db_path(self) -> Path:
        if self.db_path is not None:
            return Path(self.db_path)
        return Path(self.workspace) / ".claw" / "claw.duckdb"

    @property
    def effective_api_base(self) -> str | None:
        """The URL requests go to, for messages about an unreachable server."""
        if self.api_base:
            return self.api_base
        if self.model.startswith(("ollama/", "ollama_chat/")):
            return os.environ.get("OLLAMA_API_BASE", OLLAMA_DEFAULT_BASE)
        return None

    @property
    def is_ollama(self) -> bool:
        return self.model.startswith(("ollama/", "ollama_chat/"))


_INT_KEYS = {"max_steps", "num_ctx", "max_retries", "max_tool_result_chars", "context_window",
             "reserve_tokens", "keep_recent_turns"}
_FLOAT_KEYS = {"temperature", "request_timeout", "retry_base_delay", "command_timeout",
               "compact_at"}


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _INT_KEYS:
            number = int(value)
            if number < 1:
                raise ValueError
            return number
        if key in _FLOAT_KEYS:
            number = float(value)
            if number < 0 or (key == "compact_at" and not 0 < number <= 1):
                raise ValueError
            return number
    except (TypeError, ValueError):
        kind = "a positive integer" if key in _INT_KEYS else "a non-negative number"
        kind = "a number above 0 and at most 1" if key == "compact_at" else kind
        raise ConfigError(f"setting '{key}' must be {kind}, got {value!r}") from None
    if key in {"stream", "context_management"} and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if key in {"workspace", "db_path"}:
        return Path(value).expanduser()
    return value


def read_settings_file(workspace: Path) -> dict[str, Any]:
    """The workspace's settings: `.claw/settings.toml`, else `[tool.claw]` in pyproject.toml."""
    path = Path(workspace) / SETTINGS_FILE
    try:
        if path.is_file():
            return tomllib.loads(path.read_text(encoding="utf-8"))
        pyproject = Path(workspace) / "pyproject.toml"
        if pyproject.is_file():
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            section = dict(data.get("tool", {}).get("claw", {}))
            # Commands can write pyproject.toml from inside the sandbox; `.claw/` is read-only
            # there. Security settings therefore come only from `.claw/settings.toml`.
            for key in SECURITY_SECTIONS:
                section.pop(key, None)
            return section
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return {}


def load_config(workspace: Path | str | None = None, **options: Any) -> ClawConfig:
    """Resolve defaults < settings file < environment < options."""
    ws = Path(workspace or options.pop("cwd", None) or Path.cwd()).expanduser().resolve()
    if not ws.is_dir():
        raise ConfigError(f"workspace '{ws}' is not a directory")
    settings = read_settings_file(ws)
    base = ClawConfig(workspace=ws, settings=settings)
    file_values = {k: v for k, v in settings.items() if not isinstance(v, dict)}
    file_values = {k: v for k, v in file_values.items() if k in {f.name for f in fields(base)}}
    config = base.with_options(**file_values)
    env_values = {key: os.environ.get(var) or None for key, var in ENV_VARS.items()}
    env_values["db_path"] = os.environ.get("CLAW_DB") or None
    config = config.with_options(**env_values)
    return config.with_options(**options)
