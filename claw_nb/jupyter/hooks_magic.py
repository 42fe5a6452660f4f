"""`%claw hooks`: the workspace's hooks, and approving them from a notebook.

Nobody can be asked on a terminal here: a `%%claw` run skips the hooks not approved yet (one
line says so), and typing `%claw hooks approve [ID...]` (which prints each command it
approves) is the user's yes. An approval or revocation counts from the next `%%claw`: the
conversation's agent is rebuilt with the hooks that may run now.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError


def run_hooks_magic(magics: Any, rest: list[str]) -> None:
    """`%claw hooks [ACTION ...]` (default `list`), printed."""
    from claw_nb.errors import ClawError
    from claw_nb.hooks.commands import run_command

    action, words = (rest[0], rest[1:]) if rest else ("list", [])
    try:
        print(run_command(magics.config_for(), action, words, confirm=lambda question: True))
    except ClawError as exc:
        raise UsageError(f"%claw hooks: {exc}") from None
    if action in ("approve", "revoke"):
        magics._hooks_changed = True
