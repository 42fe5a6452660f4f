"""`%claw rules`: the permission rules the conversation runs under, and where each lives.

Rules come from the workspace's settings (saved: `[permissions]` in `.claw/settings.toml` or
`[tool.claw]` in pyproject.toml) or from an "Always allow" answered in this conversation (kept
until the conversation ends). `%claw rules drop N` forgets a rule of the conversation, so such
calls ask again; a saved rule is changed in its file.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from claw_nb.textsafe import show

USAGE = "%claw rules [drop N]"
SAVED = "saved in the settings ([permissions] of .claw/settings.toml or [tool.claw])"
SESSION = "this conversation (an Always allow)"


def run_rules_magic(magics: Any, rest: list[str]) -> None:
    """`%claw rules` lists; `%claw rules drop N` forgets rule N of this conversation."""
    policy = _policy(magics)
    if not rest:
        _show(policy, conversation=magics.agent is not None)
        return
    if rest[0] != "drop" or len(rest) != 2:
        raise UsageError(f"%claw rules: write `{USAGE}`")
    rules = list(policy.rules)
    number = rest[1]
    if not number.isdigit() or not 1 <= int(number) <= len(rules):
        raise UsageError(
            f"%claw rules drop: give a rule's number from `%claw rules` (1 to {len(rules)})"
            if rules
            else "%claw rules drop: there are no rules"
        )
    rule = rules[int(number) - 1]
    if rule.origin != "conversation":
        raise UsageError(
            f"%claw rules drop: rule {number} ({show(str(rule))}) is {SAVED}: remove it there"
        )
    policy.drop_rule(rule)
    print(f"claw: dropped {show(str(rule))}; such calls ask again")


def _policy(magics: Any) -> Any:
    """The conversation's policy, or (no conversation yet) the one the settings give."""
    agent = magics.agent
    if agent is not None and agent.authorize is not None:
        return agent.authorize
    from claw_nb.permissions import PermissionPolicy

    return PermissionPolicy.from_settings(magics.config_for().settings, mode=magics.mode)


def _show(policy: Any, conversation: bool) -> None:
    rules = list(policy.rules)
    where = "this conversation" if conversation else "no conversation yet; the settings"
    print(f"claw: permission rules ({where}; mode {policy.mode}):")
    if not rules:
        print("  none: the mode decides every call")
        return
    width = max(len(f"{r.action} {r}") for r in rules)
    for number, rule in enumerate(rules, 1):
        text = show(f"{rule.action} {rule}")
        place = (
            SESSION + f"; `%claw rules drop {number}`" if rule.origin == "conversation" else SAVED
        )
        print(f"  {number}. {text:<{width}}  {place}")
