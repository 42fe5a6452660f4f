"""Settings for a run: model, endpoint, limits, workspace, log file.

Resolution order, last wins: built-in defaults, the workspace settings file
(`.claw/settings.toml`, or `[tool.claw]` in `pyproject.toml`), environment variables
(`CLAW_MODEL`, `CLAW_API_BASE`, `CLAW_API_KEY`, `CLAW_DB`), then explicit options.

Files in the workspace are written by the agent (pyproject.toml even by sandboxed commands),
so they may only set what cannot move files, the log, keys or prompts out of the user's hands:
see :data:`PYPROJECT_KEYS` and :data:`SETTINGS_FILE_KEYS`. Other keys there are ignored, with
a warning; the workspace itself always comes from the caller.
"""

from __future__ import annotations

import os
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import DEFAULT_DB, PROMPTS_DIR, SETTINGS_FILE
from claw_nb.errors import ConfigError
from claw_nb.lazy_logger import get_logger
from claw_nb.locality import stays_local
from claw_nb.records import record
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

logger = get_logger("claw_nb")


DEFAULT_MODEL = "auto"  # claw_nb.model.resolve: a local server, else the embedded model
DEFAULT_TEMPERATURE = 0.2  # low: tool calls and edits want consistency (servers default ~0.8)
MODEL_BACKENDS = ("auto", "litellm", "direct")
_UNSET_WORDS = {"server", "omit", "none", "default", ""}
OLLAMA_DEFAULT_BASE = "http://localhost:11434"
MAX_SETTINGS_BYTES = 1 << 20  # a settings file or pyproject.toml larger than this is cut
SECURITY_SECTIONS = ("sandbox", "permissions")

# Keys `[tool.claw]` in pyproject.toml may set: the model (a local one: `stays_local`) and
# limits, nothing that says where files, the log, keys, the endpoint or prompts come from
# (sandboxed commands can write it).
PYPROJECT_KEYS = frozenset(
    {
        "model",
        "max_steps",
        "stream",
        "num_ctx",
        "temperature",
        "request_timeout",
        "max_retries",
        "retry_base_delay",
        "max_tool_result_chars",
        "command_timeout",
        "context_management",
        "context_window",
        "compact_at",
        "reserve_tokens",
        "keep_recent_turns",
        "max_tokens",
        "reply_token_cap",
        "loop_threshold",
    }
)
PYPROJECT_SECTIONS = frozenset({"notebook"})
# `.claw/settings.toml` is read-only to commands and written by the file tools only after the
# user approves, in every mode: it may also choose the endpoint, a prompt (inside
# `.claw/prompts/` or one of claw_nb's own), a tokenizer (a hub id or a file inside the
# workspace), the security sections, `[subagents]` (how deep children nest, their step limit)
# and the user's hooks (commands run on the host: `claw_nb.hooks`). Never the workspace, the
# log file or a key. Its MCP servers (`[mcp_servers.NAME]`, `[mcp]`) start only once the user
# approves each one.
SETTINGS_FILE_KEYS = PYPROJECT_KEYS | {"api_base", "prompt_name", "tokenizer"}
SETTINGS_FILE_SECTIONS = frozenset(
    {"notebook", "sandbox", "permissions", "subagents", "mcp", "mcp_servers", "hooks"}
)

# Model prefixes served over the OpenAI-compatible API (claw_nb's direct path): `api_base`
# decides where their requests go.

ENV_VARS = {"model": "CLAW_MODEL", "api_base": "CLAW_API_BASE", "api_key": "CLAW_API_KEY"}


@record(frozen=True)
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
    temperature: float | None = DEFAULT_TEMPERATURE  # "server" in a settings file: send none
    tool_choice: str | None = "auto"  # sent with tools; "omit" in a settings file: send none
    request_timeout: float = 600.0  # one non-streamed HTTP read; a timeout is retried
    reply_timeout: float = 1800.0  # a whole reply, retries included, then ModelTimeout
    stream_idle_timeout: float = 300.0  # silence while streaming (first token included)
    model_backend: str = "auto"  # auto / litellm / direct (httpx, OpenAI-compatible servers)
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
    # the most tokens one reply may have (sent as max_tokens); None: the server's own limit.
    # The embedded model gets the reply reserve: a rambling small model cannot fill its window.
    max_tokens: int | None = None
    # Client-side cap on one streamed reply, in estimated tokens (claw_nb.model.reply_cap): a
    # looping model is cut off in seconds, not after reply_timeout. None: max_tokens, else
    # reserve_tokens, else 4096.
    reply_token_cap: int | None = None
    keep_recent_turns: int = 4  # most recent steps compaction keeps verbatim
    tokenizer: str | None = None  # tokenizer.json path or Hugging Face id to count tokens with
    # describe tools and earlier calls in the prompt and parse calls from the reply text, for
    # servers whose chat template ignores `tools` (the embedded model: its GGUF's own template)
    tools_in_prompt: bool = False
    # how tools_in_prompt writes calls: "hermes" (<tool_call> JSON) or "qwen_xml"
    tool_prompt_dialect: str = "hermes"
    # send a GBNF grammar per request (llama.cpp servers, with tools_in_prompt): the first reply
    # of a task that names workspace files looks at them, the others are text or one valid call
    tool_grammar: bool = False
    # the same call with the same result this many times in a row: the model is told; once
    # more and the run stops (stop reason `stuck`). claw_nb.loop_guard
    loop_threshold: int = 3
    # record what tool calls change, for `claw-nb rewind` / `%claw undo` (claw_nb.checkpoints);
    # not settable from a workspace file: the agent must not turn its own undo off
    checkpoints: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # the file's allowed sections
    # keys a workspace file set that it may not set (ignored), for shells to show
    ignored_settings: tuple[str, ...] = field(default=(), compare=False)
    # settings the user gave (a file, the environment, options): a model profile
    # (claw_nb.calibrate.profile) changes only the others
    explicit_settings: frozenset[str] = field(default=frozenset(), compare=False)

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
        return Path(self.workspace) / DEFAULT_DB

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


_INT_KEYS = {
    "max_steps",
    "num_ctx",
    "max_retries",
    "max_tool_result_chars",
    "context_window",
    "reserve_tokens",
    "keep_recent_turns",
    "max_tokens",
    "reply_token_cap",
    "loop_threshold",
}
_BOOL_KEYS = {"stream", "context_management", "tools_in_prompt", "tool_grammar", "checkpoints"}
_FLOAT_KEYS = {
    "temperature",
    "request_timeout",
    "retry_base_delay",
    "command_timeout",
    "compact_at",
    "reply_timeout",
    "stream_idle_timeout",
}


_CHOICES = {"model_backend": MODEL_BACKENDS, "tool_prompt_dialect": ("hermes", "qwen_xml")}


def _coerce(key: str, value: Any) -> Any:
    if key in {"temperature", "tool_choice"} and isinstance(value, str):
        word = value.strip().lower()
        if word in _UNSET_WORDS and not (key == "tool_choice" and word == "none"):
            return None  # leave it to the server
        if key == "tool_choice":
            return value.strip()
    if key in _CHOICES:
        word = str(value).strip().lower()
        if word not in _CHOICES[key]:
            allowed = ", ".join(_CHOICES[key])
            raise ConfigError(f"setting '{key}' must be one of {allowed}, got {value!r}")
        return word
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
    if key in _BOOL_KEYS and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if key in {"workspace", "db_path"}:
        return Path(value).expanduser()
    return value


def read_settings_file(workspace: Path) -> dict[str, Any]:
    """The workspace's settings: `.claw/settings.toml`, else `[tool.claw]` in pyproject.toml,
    only the keys and sections such a file may set (see :func:`split_settings`)."""
    allowed, _ignored = split_settings(workspace)
    return allowed


class _TomlError(ValueError):
    """A settings file that is not valid TOML."""


def _toml(text: str) -> dict[str, Any]:
    import tomllib  # only when a settings file exists: ~3-6 ms of every start otherwise

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _TomlError(str(exc)) from None


def split_settings(workspace: Path) -> tuple[dict[str, Any], list[str]]:
    """(the allowed part of the workspace's settings file, the names of ignored keys)."""
    path = Path(workspace) / SETTINGS_FILE
    try:
        text = read_untrusted_text(workspace, SETTINGS_FILE, max_bytes=MAX_SETTINGS_BYTES)
        if text is not None:
            data = _toml(text)
            return _allowed(data, SETTINGS_FILE_KEYS, SETTINGS_FILE_SECTIONS, str(SETTINGS_FILE))
        path = Path(workspace) / "pyproject.toml"
        text = read_untrusted_text(workspace, "pyproject.toml", max_bytes=MAX_SETTINGS_BYTES)
        if text is not None:
            data = _toml(text)
            section = data.get("tool", {}).get("claw", {})
            if not isinstance(section, dict):
                return {}, ["[tool.claw]"]
            return _allowed(section, PYPROJECT_KEYS, PYPROJECT_SECTIONS, "[tool.claw]")
    except _TomlError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UntrustedPathRefused as exc:
        raise ConfigError(
            f"{path}: refused ({exc}); make it a regular file in the workspace"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    return {}, []


def _allowed(
    data: dict[str, Any], keys: frozenset[str], sections: frozenset[str], where: str
) -> tuple[dict[str, Any], list[str]]:
    kept: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in data.items():
        ok = key in sections if isinstance(value, dict) else key in keys
        if ok:
            kept[key] = value
        else:
            ignored.append(f"{where} {key}")
    return kept, ignored


def _file_path_setting(ws: Path, key: str, value: Any) -> str | None:
    """A prompt or tokenizer named by a workspace file, made safe: a file must resolve inside
    the workspace (prompts: inside `.claw/prompts/`) or be one of claw_nb's own prompts.
    None when it points elsewhere."""
    text = str(value)
    if key == "prompt_name":
        prompts = (ws / PROMPTS_DIR).resolve()
        looks_like_path = "/" in text or os.sep in text or text.endswith(".md")
        candidate = (ws / text) if looks_like_path else prompts / f"{text}.md"
        real = candidate.resolve()
        if real.is_file() and real.is_relative_to(prompts):
            return str(real)
        if looks_like_path or os.path.lexists(candidate):
            return None
        return text  # a packaged prompt's name (an unknown one fails when rendered)
    # tokenizer: a Hugging Face hub id ("org/name") or a tokenizer.json inside the workspace
    candidate = Path(text).expanduser()
    candidate = candidate if candidate.is_absolute() else ws / candidate
    if os.path.lexists(candidate) or text.endswith(".json") or text.startswith((".", "~", "/")):
        real = candidate.resolve()
        return str(real) if real.is_relative_to(ws) else None
    return text


def load_config(workspace: Path | str | None = None, **options: Any) -> ClawConfig:
    """Resolve defaults < settings file < environment < options.

    The workspace is the argument (or ``cwd=``, or the current directory), never a file's.
    """
    ws = Path(workspace or options.pop("cwd", None) or Path.cwd()).expanduser().resolve()
    if not ws.is_dir():
        raise ConfigError(f"workspace '{ws}' is not a directory")
    settings, ignored = split_settings(ws)
    file_values: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            continue
        if key in {"prompt_name", "tokenizer"}:
            safe = _file_path_setting(ws, key, value)
            if safe is None:
                ignored.append(f"{key} = {value!r} (outside the workspace)")
                continue
            value = safe
        file_values[key] = value
    sections = {k: v for k, v in settings.items() if isinstance(v, dict)}
    if ignored:
        logger.warning(
            "claw_nb: ignored settings a workspace file may not set: %s (give them as options "
            "or environment variables; see docs/security.md)",
            "; ".join(ignored),
        )
    base = ClawConfig(workspace=ws, settings=sections, ignored_settings=tuple(ignored))
    config = base.with_options(**file_values)
    env_values = {key: os.environ.get(var) or None for key, var in ENV_VARS.items()}
    env_values["db_path"] = os.environ.get("CLAW_DB") or None
    config = config.with_options(**env_values)
    config = config.with_options(**options)
    given = {**file_values, **env_values, **options}
    config = replace(
        config, explicit_settings=frozenset(k for k, v in given.items() if v is not None)
    )
    from_pyproject = "model" in file_values and not (ws / SETTINGS_FILE).is_file()
    named_by_you = options.get("model") or env_values.get("model")
    if from_pyproject and not named_by_you and not stays_local(config):
        # pyproject.toml is an ordinary file the agent may write: it must not send the next
        # session's conversation to a cloud provider whose key happens to be in the environment
        note = (
            f"[tool.claw] model = {config.model!r} (not a local model: name it in "
            f"{SETTINGS_FILE}, CLAW_MODEL or --model)"
        )
        logger.warning("claw_nb: ignored %s", note)
        config = replace(
            config, model=DEFAULT_MODEL, ignored_settings=(*config.ignored_settings, note)
        )
    return config
