"""`claw-nb lab optimize`: compare, sweep and reflect from the terminal, then adopt and show.

The verbs and options come from `claw_nb.lab.optimize.command_options` (the notebook's
`%claw lab optimize` reads the same table); the work is `claw_nb.lab.optimize.jobs` and
`reports`. This module only talks to the terminal: the plan, the confirmation, live
progress, Ctrl-C, the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "claw-nb lab optimize"


def add_parser(lab_commands: argparse._SubParsersAction, parser_class: type) -> None:
    from claw_nb.lab.optimize.command_options import add_optimize_parser

    add_optimize_parser(lab_commands, parser_class)


def run_optimize_command(args: argparse.Namespace) -> int:
    """Run one verb; ClawErrors go up to `run_lab_command`, which prints them on one line."""
    from claw_nb.lab.optimize.command_options import canonical_verb

    verb = canonical_verb(args.optimize_command)
    if verb == "show":
        return _show(args)
    if verb == "adopt":
        return _adopt(args)
    return _run(args)


def _db(args: argparse.Namespace) -> Path:
    from claw_nb.log.database import resolve_db_path

    return resolve_db_path(Path(args.db).expanduser() if args.db else None)


def _run(args: argparse.Namespace) -> int:
    from claw_nb.config import load_config
    from claw_nb.lab.optimize.jobs import prepare
    from claw_nb.lab.progress import TerminalProgress
    from claw_nb.log.database import is_interrupted_query

    job = prepare(args, load_config(None, db_path=args.db))
    print(job.plan, flush=True)
    if args.dry_run:
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"{PROG}: not started: pass --yes to run without a terminal", file=sys.stderr)
            return EXIT_USAGE
        if not _confirm("start? [y/N] "):
            print("not started")
            return EXIT_OK
    resume = (
        f"to resume, run the same command again with --name {job.name} (finished trials are kept)"
    )
    try:
        outcome = job.run(TerminalProgress(), on_step=_print_step)
    except (KeyboardInterrupt, RuntimeError) as exc:
        if not is_interrupted_query(exc):
            raise
        print(f"{PROG}: interrupted; {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.stopped:
        print(f"{PROG}: stopped; {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(outcome.report)
    print(
        f"run '{job.name}' in {job.db_path}; keep the winner with: {PROG} adopt {job.name}"
        + (" --as NAME" if job.kind == "sweep" else "")
    )
    return EXIT_OK


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _print_step(event: dict[str, Any]) -> None:
    """One line per reflect event (the trials' own lines come from the progress display)."""
    from claw_nb.lab.optimize.run_log import describe_step

    line = describe_step(event)
    if line:
        print(line, file=sys.stderr, flush=True)


def _show(args: argparse.Namespace) -> int:
    from claw_nb.lab.optimize.reports import run_report, runs_table

    db = _db(args)
    if args.run is None:
        table = runs_table(db)
        print(table.to_string(index=False) if len(table) else f"no optimizer runs in {db} yet")
        return EXIT_OK
    print(run_report(db, args.run, per_task=args.per_task))
    return EXIT_OK


def _adopt(args: argparse.Namespace) -> int:
    from claw_nb.lab.optimize.reports import adopt_run

    workspace = Path(args.workspace).expanduser() if args.workspace else Path.cwd()
    path = adopt_run(_db(args), args.run, args.pick, args.as_name, workspace)
    print(f"adopted: wrote {path} (and the settings in .claw/settings.toml)")
    return EXIT_OK
