"""The actions behind `claw-nb hooks ACTION` and `%claw hooks ACTION`, the same in both shells:
list, approve, revoke. Each returns the text to print."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_nb.approvals import ApprovalStore
from claw_nb.errors import ClawError
from claw_nb.hooks import configured_hooks
from claw_nb.hooks.settings import HookSpec
from claw_nb.hooks.trust import HookApprovals
from claw_nb.textsafe import show

ACTIONS = ("list", "approve", "revoke")
USAGE = "list | approve [ID...] | revoke [ID...]"
NO_HOOKS = (
    "no hooks configured ([[hooks.EVENT]] in .claw/settings.toml, or the hooks of "
    ".claude/settings.json and .claude/settings.local.json)"
)


class HookCommandError(ClawError):
    """A `hooks` action that cannot be done; the message says why and what to type."""


def run_command(
    config: Any,
    action: str,
    words: list[str],
    *,
    confirm: Callable[[str], bool],
    store: ApprovalStore | None = None,
) -> str:
    """Do `action` for the hooks of `config`'s workspace; `confirm(question)` asks the person
    before each approval. Without ids, approve takes every hook not approved yet and revoke
    every approval of this workspace."""
    if action not in ACTIONS:
        raise HookCommandError(f"unknown action {action!r}; use {USAGE}")
    store = store or HookApprovals()
    workspace = config.workspace
    if action == "revoke":
        if not words:
            return f"revoked {store.revoke(None, workspace)} hook approval(s) of this workspace"
        return "\n".join(
            f"revoked {store.revoke(i, workspace)} approval(s) of hook {i}" for i in words
        )
    specs = _unique(configured_hooks(config))
    if not specs:
        return NO_HOOKS
    if action == "list":
        return "\n".join(line for spec in specs for line in _lines(spec, store, workspace))
    return _approve(_pick(specs, words, store, workspace), store, workspace, confirm)


def _unique(specs: list[HookSpec]) -> list[HookSpec]:
    """One entry per hook (a file may name the same hook twice; it is one approval)."""
    seen: dict[str, HookSpec] = {}
    for spec in specs:
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def _lines(spec: HookSpec, store: ApprovalStore, workspace: Any) -> list[str]:
    state = "approved" if store.is_approved(spec, workspace) else "not approved"
    matcher = spec.matcher if spec.matcher not in (None, "") else "*"
    head = f"{spec.name}  {state}  {spec.event}  matcher {matcher}  timeout {spec.timeout:g} s"
    if spec.condition:
        head += f"  if {spec.condition}"
    lines = [show(f"{head}  ({spec.source})"), "  " + _command(spec)]
    if state == "not approved":
        lines.append(
            f"  approve: claw-nb hooks approve {spec.name}  "
            f"(notebook: %claw hooks approve {spec.name})"
        )
    return lines


def _command(spec: HookSpec) -> str:
    """The exact command, control characters escaped: nothing can hide part of it."""
    return show(spec.command).replace("\n", "\n  ")


def _pick(
    specs: list[HookSpec], ids: list[str], store: ApprovalStore, workspace: Any
) -> list[HookSpec]:
    if not ids:
        return [s for s in specs if not store.is_approved(s, workspace)]
    known = {spec.name: spec for spec in specs}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise HookCommandError(
            f"no hook with id {', '.join(unknown)}; hooks: {', '.join(known)} "
            "(`hooks list` shows them)"
        )
    return [known[i] for i in dict.fromkeys(ids)]


def _approve(
    specs: list[HookSpec],
    store: ApprovalStore,
    workspace: Any,
    confirm: Callable[[str], bool],
) -> str:
    if not specs:
        return "every hook of this workspace is approved already"
    lines = []
    for spec in specs:
        what = f"{spec.event} hook {spec.name} ({spec.source})"
        if store.is_approved(spec, workspace):
            lines.append(f"already approved: {what}")
            continue
        if not confirm(show(f"approve {what}: ") + _command(spec)):
            lines.append(f"not approved: {what}")
            continue
        store.approve(spec, workspace)
        lines.append(show(f"approved {what}: ") + _command(spec))
    return "\n".join(lines)
