"""A variant: the settings, system prompt and tool descriptions one arm of an experiment runs.

Loaded from a TOML file or a table (a task author's or a user's file: only the settings named in
`_SETTINGS` and a prompt and tool descriptions are taken), identified by the sha of what it
changes, so a changed variant is a new arm in the log.

A variant may instead name a command-line agent (``agent_command``): its trials run that
program in the same workspace and sandbox instead of claw's loop (`claw_nb.lab.external_agent`),
so a leaderboard compares harnesses on one model, not only prompts.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.records import record

_SETTINGS = ("model", "temperature", "max_steps", "context_window", "max_tool_result_chars")
# what only claw's own loop reads: meaningless next to an agent_command
_LOOP_ONLY = ("system_prompt", "tool_descriptions", "tools", *_SETTINGS[1:])


@record(frozen=True)
class Variant:
    """A named set of overrides of the agent's defaults; None (or empty) keeps the default.

    ``system_prompt`` is template text with the placeholders of `claw_nb.prompts`
    (``$tools``, ``$workspace``, ``$os``, ``$memory``); ``tool_descriptions`` maps a tool's name
    to the description the model is shown; ``tools`` names the tools offered (None: the
    default set), so a sweep can measure what a tool costs and earns.
    """

    name: str
    system_prompt: str | None = None
    tool_descriptions: Mapping[str, str] = field(default_factory=dict, hash=False)
    model: str | None = None
    temperature: float | None = None
    max_steps: int | None = None
    context_window: int | None = None
    max_tool_result_chars: int | None = None
    tools: tuple[str, ...] | None = None
    agent_command: str | None = None  # a command-line agent run instead of claw's loop
    agent_env: Mapping[str, str] = field(default_factory=dict, hash=False)  # its extra env

    @property
    def external(self) -> bool:
        """True when this variant runs a command-line agent, not claw's loop."""
        return self.agent_command is not None

    def overrides(self) -> dict[str, Any]:
        """The overrides as plain data (what the log stores and the sha is taken of)."""
        data: dict[str, Any] = {
            k: getattr(self, k) for k in _SETTINGS if getattr(self, k) is not None
        }
        if self.system_prompt is not None:
            data["system_prompt"] = self.system_prompt
        if self.tool_descriptions:
            data["tool_descriptions"] = dict(sorted(self.tool_descriptions.items()))
        if self.tools is not None:
            data["tools"] = list(self.tools)
        if self.agent_command is not None:
            data["agent_command"] = self.agent_command
        if self.agent_env:
            data["agent_env"] = dict(sorted(self.agent_env.items()))
        return data

    def tool_registry(self) -> Any:
        """The tools this variant offers, with its descriptions where it gives one (None for
        a command-line agent, which brings its own)."""
        if self.external:
            return None
        return variant_tools(self.tool_descriptions, self.tools)

    def sha(self) -> str:
        """A stable id of the overrides (not of the name)."""
        text = json.dumps(self.overrides(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_file(cls, name: str, path: str | Path) -> Variant:
        """A variant from a TOML file: ``system_prompt`` (text) or ``system_prompt_file``
        (relative to the TOML file), a ``[tool_descriptions]`` table, ``tools`` (a list of tool
        names), and any of model, temperature, max_steps, context_window,
        max_tool_result_chars; or ``agent_command`` (a command-line agent, see
        `claw_nb.lab.external_agent`), an ``[agent_env]`` table and model."""
        path = Path(path).expanduser()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"variant file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"variant file {path}: {exc}") from None
        return cls.from_dict(name, data, base=path.parent)

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], base: Path | None = None) -> Variant:
        """A variant from plain data (the keys of :meth:`from_file`)."""
        data = dict(data)
        known = {
            *_SETTINGS,
            "system_prompt",
            "system_prompt_file",
            "tool_descriptions",
            "tools",
            "agent_command",
            "agent_env",
            "name",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"variant {name!r}: unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known - {'name'}))}"
            )
        prompt = data.get("system_prompt")
        if data.get("system_prompt_file"):
            prompt = _prompt_file(name, str(data["system_prompt_file"]), base)
        tools = data.get("tool_descriptions") or {}
        if not isinstance(tools, Mapping):
            raise ConfigError(f"variant {name!r}: tool_descriptions must be a table")
        offered = data.get("tools")
        if offered is not None and (
            not isinstance(offered, (list, tuple)) or not all(isinstance(t, str) for t in offered)
        ):
            raise ConfigError(f"variant {name!r}: tools must be a list of tool names")
        command, env = _agent_fields(name, data)
        variant = cls(
            name=str(data.get("name") or name),
            agent_command=command,
            agent_env=env,
            system_prompt=prompt,
            tool_descriptions={str(k): str(v) for k, v in tools.items()},
            tools=tuple(offered) if offered is not None else None,
            **{k: data[k] for k in _SETTINGS if data.get(k) is not None},
        )
        variant.tool_registry()  # unknown tool names fail here, with the names known
        return variant


AGENTS_DIR = "agents"  # ready variants of command-line agents, in this package


def agent_names() -> list[str]:
    """The command-line agents that come with a ready variant (``agent:NAME``)."""
    from importlib import resources

    folder = resources.files("claw_nb.lab").joinpath(AGENTS_DIR)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def agent_variant(agent: str, name: str | None = None) -> Variant:
    """The ready variant of a known command-line agent (``claw_nb/lab/agents/AGENT.toml``),
    named ``name`` (default: the agent's name)."""
    from importlib import resources

    if agent not in agent_names():
        raise ConfigError(
            f"no ready variant for agent {agent!r}; known: {', '.join(agent_names())}"
        )
    file = resources.files("claw_nb.lab").joinpath(AGENTS_DIR, f"{agent}.toml")
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    return Variant.from_dict(name or agent, data)


MAX_PROMPT_FILE_BYTES = 1 << 20


def _prompt_file(name: str, relative: str, base: Path | None) -> str:
    """A variant's prompt file: a regular file beside the variant file (no link out of its
    folder, no `..`, at most 1 MiB), since a variant file may come with a task suite."""
    from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

    folder = base if base is not None else Path.cwd()
    try:
        text = read_untrusted_text(folder, relative, max_bytes=MAX_PROMPT_FILE_BYTES)
    except UntrustedPathRefused as exc:
        raise ConfigError(f"variant {name!r}: system_prompt_file refused: {exc}") from None
    if text is None:
        raise ConfigError(
            f"variant {name!r}: system_prompt_file {relative!r} is not a file beside the variant"
        )
    return text


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _agent_fields(name: str, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The checked ``agent_command`` and ``agent_env`` of a variant's data."""
    command = data.get("agent_command")
    env = data.get("agent_env") or {}
    if command is None:
        if env:
            raise ConfigError(f"variant {name!r}: agent_env needs an agent_command")
        return None, {}
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"variant {name!r}: agent_command must be a non-empty command line")
    clash = [k for k in _LOOP_ONLY if data.get(k) is not None] + (
        ["system_prompt_file"] if data.get("system_prompt_file") else []
    )
    if clash:
        raise ConfigError(
            f"variant {name!r}: {', '.join(clash)} only apply to claw's own loop, not to "
            "an agent_command (configure the agent in its command line)"
        )
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in env.items()
    ):
        raise ConfigError(f"variant {name!r}: agent_env must be a table of strings")
    bad = sorted(k for k in env if not _ENV_NAME.fullmatch(k))
    if bad:
        raise ConfigError(f"variant {name!r}: agent_env names must be VAR names, not {bad!r}")
    from claw_nb.lab.external_agent import check_template

    check_template(name, command)
    return command, {k: str(v) for k, v in env.items()}


def variant_tools(descriptions: Mapping[str, str], offered: tuple[str, ...] | None = None) -> Any:
    """The default tools (or the `offered` ones, in the defaults' order), with `descriptions`
    in place; an unknown name is a ConfigError that lists the known ones."""
    import dataclasses

    from claw_nb.tools import ToolRegistry, default_tools

    tools = default_tools()
    known = tools.names()
    unknown = sorted((set(descriptions) | set(offered or ())) - set(known))
    if unknown:
        raise ConfigError(f"unknown tool(s) {', '.join(unknown)}; tools: {', '.join(known)}")
    if offered is not None and not offered:
        raise ConfigError("a variant must offer at least one tool")
    chosen = [t for t in tools if offered is None or t.name in offered]
    return ToolRegistry(
        dataclasses.replace(t, description=descriptions.get(t.name, t.description)) for t in chosen
    )
