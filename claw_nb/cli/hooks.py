"""`claw-nb hooks`: the workspace's hooks (list, approve, revoke), and how `claw-nb run` asks
about hooks nobody has approved yet (a hook runs on the host: see claw_nb.hooks.trust)."""

from __future__ import annotations

import argparse
import sys

from claw_nb.cli.workspace_actions import workspace_command
from claw_nb.config import ClawConfig
from claw_nb.textsafe import show

HELP = "the workspace's hooks: list, approve, revoke"


def add_parser(sub: argparse._SubParsersAction) -> None:
    actions, where = workspace_command(sub, "hooks", HELP, "hooks_command")
    actions.add_parser(
        "list", parents=[where], help="each hook: id, approval, event, matcher, command, file"
    )
    approve = actions.add_parser(
        "approve", parents=[where], help="approve hooks by id (default: every one not approved)"
    )
    approve.add_argument("ids", nargs="*", metavar="ID")
    revoke = actions.add_parser(
        "revoke", parents=[where], help="forget hook approvals by id (default: all of them)"
    )
    revoke.add_argument("ids", nargs="*", metavar="ID")


def run(args: argparse.Namespace, config: ClawConfig) -> int:
    from claw_nb.errors import ClawError
    from claw_nb.hooks.commands import run_command

    action = args.hooks_command or "list"
    try:
        print(run_command(config, action, getattr(args, "ids", []), confirm=_confirm))
    except ClawError as exc:  # a malformed settings file, an unknown id
        print(f"claw-nb hooks: {exc}", file=sys.stderr)
        return 1
    return 0


def _confirm(question: str) -> bool:
    """Ask on a terminal; without one, typing `claw-nb hooks approve` is the yes."""
    if not sys.stdin.isatty():
        return True
    try:
        return input(f"{question}\n  approve? [y/N]: ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def terminal_hook_approver(spec) -> str:
    """`claw-nb run` on a terminal: show a hook nobody approved yet, exactly; a yes is kept."""
    matcher = f", matcher {spec.matcher}" if spec.matcher not in (None, "", "*") else ""
    print(
        show(f"\nclaw: a {spec.event} hook{matcher} from {spec.source} would run on this machine:")
    )
    print("  " + show(spec.command).replace("\n", "\n  "))
    try:
        answer = input("approve and remember it? [y/N]: ").strip().lower()
    except EOFError:
        return "no"
    return "always" if answer in ("y", "yes") else "no"


def approve_hooks_once(spec) -> str:
    """`--yes`: run every configured hook for this run, without remembering it; each is named
    on stderr, so what ran on the host is on record."""
    print(
        f"claw-nb: --yes runs hook {spec.name} from {spec.source} for this run: "
        + show(spec.describe()),
        file=sys.stderr,
    )
    return "yes"
