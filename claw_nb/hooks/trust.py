"""Which of a workspace's hooks may run: the ones the user approved.

A hook runs on the host, outside the sandbox, and the files that configure hooks
(`.claw/settings.toml`, `.claude/settings.json`) may come with a cloned repository. So, as for
MCP servers, a hook runs only once the user approved it; the approval is kept outside every
workspace (`claw_nb.approvals`, in `hook_approvals.json`) per workspace and
`HookSpec.fingerprint` (file, event, matcher, command, timeout), so a changed hook asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from claw_nb.approvals import Answer, ApprovalStore
from claw_nb.hooks.settings import HookSpec
from claw_nb.lazy_logger import get_logger

logger = get_logger("claw_nb")

APPROVALS_FILE = "hook_approvals.json"
HookApprover = Callable[[HookSpec], Answer]  # asks a person about one hook not approved yet


class HookApprovals(ApprovalStore):
    """The approved hooks, in `hook_approvals.json` of the user's config folder."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(APPROVALS_FILE, path)


def trusted_hooks(
    specs: Iterable[HookSpec],
    workspace: Path | str,
    approve: HookApprover | None = None,
    store: ApprovalStore | None = None,
) -> list[HookSpec]:
    """The hooks of `specs` that may run: the approved ones, and those `approve` says yes to
    ("always" is remembered). Without `approve` nobody can be asked: the others are skipped
    and one line says how many and how to approve them."""
    store = store or HookApprovals()
    answers: dict[str, Answer] = {}
    kept, waiting = [], 0
    for spec in specs:
        key = spec.fingerprint(workspace)
        if key not in answers:
            if store.is_approved(spec, workspace):
                answers[key] = "always"
            elif approve is None:
                answers[key] = "no"
                waiting += 1
            else:
                answers[key] = approve(spec)
                if answers[key] == "always":
                    store.approve(spec, workspace)
        if answers[key] in ("always", "yes"):
            kept.append(spec)
    if waiting:
        logger.warning("claw_nb: %s", not_approved_line(waiting))
    return kept


def not_approved_line(count: int) -> str:
    """The one line about hooks skipped because nobody approved them."""
    hooks = "hook" if count == 1 else "hooks"
    return (
        f"{count} {hooks} of this workspace not run until you approve them: "
        "`claw-nb hooks list` shows their commands, `claw-nb hooks approve` "
        "(in a notebook `%claw hooks approve`) approves them"
    )
