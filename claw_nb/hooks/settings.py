"""Which hooks a workspace configures: `[[hooks.EVENT]]` in `.claw/settings.toml`, and the
`hooks` of Claude Code's `.claude/settings.json` and `.claude/settings.local.json`.

Both files are protected (the sandbox mounts `.claw/` and `.claude/` read-only, the file tools
ask before writing them, in every mode): a hook runs on the host, outside the sandbox, so the
agent must not be able to write one. Our own file is checked strictly (a typo is an error that
says what to fix); Claude Code's may use events and handler types we do not have, which are
skipped with a warning so an existing project still works.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import SETTINGS_FILE
from claw_nb.errors import HookSettingsError, PermissionSettingsError
from claw_nb.lazy_logger import get_logger
from claw_nb.protected_paths import CLAUDE_DIR
from claw_nb.records import record
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

logger = get_logger("claw_nb")

EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)
# What a matcher is tested against, per event (other events ignore their matcher).
MATCHED = {
    "PreToolUse": "tool",
    "PostToolUse": "tool",
    "SessionStart": "source",
    "PreCompact": "trigger",
}
DEFAULT_TIMEOUT = 60.0  # seconds, as in Claude Code
CLAUDE_SETTINGS = (Path(CLAUDE_DIR) / "settings.json", Path(CLAUDE_DIR) / "settings.local.json")
MAX_SETTINGS_BYTES = 1 << 20
_ENTRY_KEYS = {"command", "matcher", "timeout"}
_SIMPLE = re.compile(r"[\w|]+")  # a name or a `|` list of names: matched exactly, as Claude Code


@record(frozen=True)
class HookSpec:
    """One configured hook command."""

    event: str
    command: str
    matcher: str | None = None  # None, "" and "*" match everything
    timeout: float = DEFAULT_TIMEOUT
    source: str = str(SETTINGS_FILE)
    claude: bool = False  # from Claude Code's settings: its tool names go in the payload
    condition: str | None = None  # Claude Code's `if`: a permission rule, e.g. "Bash(git *)"

    def matches(self, names: Iterable[str]) -> bool:
        """Whether the matcher accepts one of `names` (a tool's own and Claude Code names,
        a session source, a compaction trigger)."""
        if self.matcher in (None, "", "*"):
            return True
        names = list(names)
        if _SIMPLE.fullmatch(self.matcher):
            return any(name in self.matcher.split("|") for name in names)
        pattern = re.compile(self.matcher)
        return any(pattern.search(name) for name in names)

    # -- what the user approves (claw_nb.approvals.Approvable) ------------------------------

    @property
    def name(self) -> str:
        """A short id to type (`claw-nb hooks approve ID`): a hash of the hook itself, so an id
        names exactly one command line with its file, event, matcher and timeout."""
        return _digest(self._identity())[:8]

    def fingerprint(self, workspace: Path | str) -> str:
        """What an approval is for: the workspace and everything that decides what runs and
        when. Any change asks again."""
        return _digest({"workspace": os.path.realpath(workspace), **self._identity()})

    def describe(self) -> str:
        """The hook in one line, its command exactly as configured."""
        when = f" [{self.matcher}]" if self.matcher not in (None, "", "*") else ""
        if self.condition:
            when += f" if {self.condition}"
        return f"{self.event}{when}, timeout {self.timeout:g} s: {self.command}"

    def _identity(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "event": self.event,
            "matcher": self.matcher,
            "command": self.command,
            "timeout": self.timeout,
            "if": self.condition,
        }


def _digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def claw_hooks(settings: Mapping[str, Any]) -> list[HookSpec]:
    """The `[[hooks.EVENT]]` tables of `.claw/settings.toml` (already parsed by the config)."""
    table = settings.get("hooks") or {}
    if not isinstance(table, Mapping):
        raise HookSettingsError(f"{SETTINGS_FILE}: [hooks] must be a table of [[hooks.EVENT]]")
    specs = []
    for event, entries in table.items():
        where = f"{SETTINGS_FILE} [[hooks.{event}]]"
        if event not in EVENTS:
            raise HookSettingsError(f"{where}: unknown event; known: {', '.join(EVENTS)}")
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            raise HookSettingsError(f"{where}: write each hook as a [[hooks.{event}]] table")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise HookSettingsError(f"{where}: each hook is a table with command = ...")
            unknown = sorted(set(entry) - _ENTRY_KEYS)
            if unknown:
                raise HookSettingsError(
                    f"{where}: unknown key(s) {', '.join(unknown)}; known: command, matcher, timeout"
                )
            specs.append(_spec(event, entry, where, str(SETTINGS_FILE), claude=False))
    return specs


def claude_hooks(workspace: Path) -> list[HookSpec]:
    """The hooks of `.claude/settings.json` and `.claude/settings.local.json`, in that order."""
    specs: list[HookSpec] = []
    for relative in CLAUDE_SETTINGS:
        try:
            text = read_untrusted_text(workspace, relative, max_bytes=MAX_SETTINGS_BYTES)
        except UntrustedPathRefused as exc:
            raise HookSettingsError(f"{relative}: refused ({exc})") from None
        if text is None:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HookSettingsError(f"{relative}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            specs += _claude_section(data.get("hooks") or {}, str(relative))
    return specs


def _claude_section(section: Any, source: str) -> list[HookSpec]:
    if not isinstance(section, dict):
        raise HookSettingsError(f'{source}: "hooks" must be an object of events')
    specs = []
    for event, groups in section.items():
        if event not in EVENTS:
            logger.warning("claw_nb: %s: hook event %s is not supported; skipped", source, event)
            continue
        if not isinstance(groups, list):
            raise HookSettingsError(f"{source}: hooks.{event} must be a list of matcher groups")
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks", []), list):
                raise HookSettingsError(
                    f'{source}: hooks.{event}: each group is {{"matcher": ..., "hooks": [...]}}'
                )
            for handler in group.get("hooks", []):
                if not isinstance(handler, dict) or handler.get("type", "command") != "command":
                    kind = handler.get("type") if isinstance(handler, dict) else handler
                    logger.warning(
                        "claw_nb: %s: a %s hook of %s is not supported (only command hooks); "
                        "skipped",
                        source,
                        kind,
                        event,
                    )
                    continue
                entry = {**handler, "matcher": group.get("matcher")}
                specs.append(_spec(event, entry, f"{source} hooks.{event}", source, claude=True))
    return specs


def _spec(
    event: str, entry: Mapping[str, Any], where: str, source: str, *, claude: bool
) -> HookSpec:
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise HookSettingsError(f"{where}: command must be a non-empty string")
    matcher = entry.get("matcher")
    if matcher is not None:
        if not isinstance(matcher, str):
            raise HookSettingsError(f"{where}: matcher must be a string (a regular expression)")
        try:
            re.compile(matcher)
        except re.error as exc:
            raise HookSettingsError(
                f"{where}: matcher {matcher!r} is not a regex ({exc})"
            ) from None
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise HookSettingsError(f"{where}: timeout must be a positive number of seconds")
    condition = entry.get("if") if claude else None
    if isinstance(condition, str) and condition.strip():
        from claw_nb.hooks.claude_names import check_condition

        try:
            check_condition(condition)
        except PermissionSettingsError as exc:
            raise HookSettingsError(f"{where}: if {condition!r}: {exc}") from None
    return HookSpec(
        event,
        command,
        matcher,
        float(timeout),
        source,
        claude=claude,
        condition=condition if isinstance(condition, str) and condition.strip() else None,
    )
