"""The user's hooks: their own commands, run on the host at fixed points of the agent loop.

Configured as `[[hooks.EVENT]]` in `.claw/settings.toml`, or in the `hooks` of Claude Code's
`.claude/settings.json` (see docs/hooks.md). `load_hooks` reads both for `claw_nb.api`, which
hands the result to the Agent; the loop itself only knows the `Hooks` protocol
(`claw_nb.protocols`).
"""

from __future__ import annotations

from typing import Any

from claw_nb.hooks.command_hooks import CommandHooks
from claw_nb.hooks.settings import EVENTS, HookSpec, claude_hooks, claw_hooks

__all__ = ["EVENTS", "CommandHooks", "HookSpec", "load_hooks", "describe_run"]


def load_hooks(config: Any) -> CommandHooks | None:
    """The workspace's hooks (ours first, then Claude Code's), or None when there are none.
    Read once: a settings file changed during the session counts from the next agent on."""
    specs = claw_hooks(config.settings) + claude_hooks(config.workspace)
    return CommandHooks(specs, config.workspace) if specs else None


def describe_run(event: Any) -> str | None:
    """One line for a person about a `HookRan` event, or None when there is nothing to say
    (the hook went on quietly)."""
    if event.message:
        return f"hook: {event.message}"
    said = _SAID.get(event.decision)
    if said is None:
        return None
    return f"hook: {event.event} hook {said}" + (f": {event.reason}" if event.reason else "")


_SAID = {"deny": "denied the call", "ask": "asks for approval", "block": "blocked"}
