"""The user's hooks: their own commands, run on the host at fixed points of the agent loop.

Configured as `[[hooks.EVENT]]` in `.claw/settings.toml`, or in the `hooks` of Claude Code's
`.claude/settings.json` (see docs/hooks.md). Both files may come with a cloned repository, so a
hook runs only once the user approved it (`claw_nb.hooks.trust`). `load_hooks` reads them for
`claw_nb.api`, which hands the approved ones to the Agent; the loop itself only knows the
`Hooks` protocol (`claw_nb.protocols`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claw_nb.hooks.settings import EVENTS, HookSpec, claude_hooks, claw_hooks

if TYPE_CHECKING:
    from claw_nb.hooks.command_hooks import CommandHooks
    from claw_nb.hooks.trust import HookApprover

__all__ = [
    "EVENTS",
    "CommandHooks",
    "HookApprover",
    "HookSpec",
    "configured_hooks",
    "describe_run",
    "load_hooks",
]


def configured_hooks(config: Any) -> list[HookSpec]:
    """Every hook the workspace configures, approved or not: ours first, then Claude Code's."""
    return claw_hooks(config.settings) + claude_hooks(config.workspace)


def load_hooks(config: Any, approve: HookApprover | None = None) -> CommandHooks | None:
    """The workspace's hooks that may run, or None when there are none. A hook the user has not
    approved is asked about through `approve` (None: nobody to ask; it is skipped, and one line
    says how to approve it). Read once: a settings file changed during the session counts from
    the next agent on."""
    specs = configured_hooks(config)
    if not specs:
        return None  # the usual case: nothing else of the hooks is imported
    from claw_nb.hooks.command_hooks import CommandHooks
    from claw_nb.hooks.trust import trusted_hooks

    specs = trusted_hooks(specs, config.workspace, approve)
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


def __getattr__(name: str) -> Any:
    """`CommandHooks` and `HookApprover`, imported when first asked for (PEP 562)."""
    if name == "CommandHooks":
        from claw_nb.hooks.command_hooks import CommandHooks

        return CommandHooks
    if name == "HookApprover":
        from claw_nb.hooks.trust import HookApprover

        return HookApprover
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
