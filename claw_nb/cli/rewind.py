"""`claw-nb rewind SESSION_ID [--to-step N] [--yes] [--force]`: put back the workspace files a
session changed after step N (default: all of its changes), from its checkpoints.

Without `--yes` it shows what it would do and asks on a terminal; with no terminal it changes
nothing. Reads no DuckDB file (a kernel may hold its lock): the checkpoints are beside the log's
journals, found from the log's path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_NOT_ALL, EXIT_USAGE = 0, 1, 2


HELP = "restore the files a session changed after a step (from checkpoints)"


def add_rewind_parser(sub: argparse._SubParsersAction) -> None:
    rewind = sub.add_parser("rewind", help=HELP)
    rewind.add_argument("session_id", help="the session (a unique prefix of its id)")
    rewind.add_argument(
        "--to-step",
        type=int,
        default=0,
        metavar="N",
        help="keep the changes of steps 1..N, undo the later ones (default 0: undo all)",
    )
    rewind.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    rewind.add_argument(
        "--force", action="store_true", help="also overwrite files changed since by someone else"
    )
    rewind.add_argument("--cwd", type=Path, help="workspace (default: current directory)")
    rewind.add_argument(
        "--db", type=Path, help="the session's log file (env CLAW_DB); checkpoints go with it"
    )


def run(args: argparse.Namespace, config) -> int:
    """The `rewind` command: plan, confirm, apply, report."""
    from claw_nb.checkpoints import CheckpointError, CheckpointStore, plan_rewind, rewind_files

    if args.to_step < 0:
        print("claw-nb rewind: --to-step must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    store = CheckpointStore.for_database(config.resolved_db_path)
    try:
        session_id = _find(store, args.session_id)
        plan = plan_rewind(store, session_id, args.to_step)
    except CheckpointError as exc:
        print(f"claw-nb rewind: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"session {session_id} in {plan.workspace}, after step {args.to_step}:")
    _print(plan.lines())
    if not plan.paths:
        return EXIT_OK if plan.ok else EXIT_NOT_ALL
    if not args.yes and not _confirm():
        print("nothing changed (pass --yes to rewind without being asked)")
        return EXIT_NOT_ALL
    report = rewind_files(store, session_id, args.to_step, force=args.force)
    print("done:")
    _print(report.lines())
    return EXIT_OK if report.ok else EXIT_NOT_ALL


def _find(store, prefix: str) -> str:
    from claw_nb.checkpoints import CheckpointError

    ids = store.sessions()
    if prefix in ids:
        return prefix
    matches = [x for x in ids if x.startswith(prefix)]
    if len(matches) > 1:
        raise CheckpointError(f"session id {prefix!r} is ambiguous: {', '.join(matches[:5])}")
    if not matches:
        raise CheckpointError(
            f"no checkpoints for a session {prefix!r} in {store.root}: it changed no files, "
            "ran with checkpoints off, or logs to another database (--db)"
        )
    return matches[0]


def _confirm() -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("rewind these files? [y/N]: ").strip().lower()
    except EOFError:
        return False
    return answer in ("y", "yes")


def _print(lines: list[str]) -> None:
    from claw_nb.textsafe import show

    for line in lines:
        print("  " + show(line))
