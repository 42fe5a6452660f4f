"""`claw-nb lab optimize`: compare, sweep and reflect from the terminal, then adopt and show.

The verbs and options come from `claw_nb.lab.optimize.command_options` (the notebook's
`%claw lab optimize` reads the same table); the checks and the run are
`claw_nb.lab.optimize.command`, past runs `claw_nb.lab.optimize.reports`. This module only talks
to the terminal: the plan, the confirmation, live progress, Ctrl-C (it stops the command's
token; a second one aborts), the report.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "claw-nb lab optimize"


# The same words as command_options.OPTIMIZE_HELP, which cannot be imported cheaply.
HELP = "compare, sweep, reflect (gepa), adopt, show"


def add_parser(lab_commands: argparse._SubParsersAction, parser_class: type) -> None:
    """`optimize`, whose verbs are added when it is first used (``build``, see
    `claw_nb.cli.lab.deferring`): they come from the optimizer package, whose import (numpy,
    the lab's store, ~0.35 s) `claw-nb run` must not pay."""

    def build(optimize: argparse.ArgumentParser) -> None:
        from claw_nb.lab.optimize.command_options import add_optimize_verbs

        add_optimize_verbs(optimize, parser_class)

    lab_commands.add_parser("optimize", help=HELP, build=build)


def run_optimize_command(args: argparse.Namespace) -> int:
    """Run one verb; ClawErrors go up to `run_lab_command`, which prints them on one line."""
    from claw_nb.config import load_config
    from claw_nb.lab.optimize.command import prepare, words_db
    from claw_nb.lab.optimize.command_options import canonical_verb
    from claw_nb.lab.progress import TerminalProgress
    from claw_nb.stop import StopToken, sigint_stops

    verb = canonical_verb(args.optimize_command)
    if verb in ("show", "adopt"):
        return _show(args, words_db(args, None)) if verb == "show" else _adopt(args)
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
        with sigint_stops(StopToken()) as stop:
            outcome = job.run(TerminalProgress(), on_step=_print_step, stop=stop)
    except KeyboardInterrupt:  # the second Ctrl-C: it did not wait for the clean stop
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


def _show(args: argparse.Namespace, db) -> int:
    from claw_nb.lab.optimize.reports import run_report, runs_table

    if args.run is None:
        table = runs_table(db)
        print(table.to_string(index=False) if len(table) else f"no optimizer runs in {db} yet")
        return EXIT_OK
    print(run_report(db, args.run, per_task=args.per_task))
    return EXIT_OK


def _adopt(args: argparse.Namespace) -> int:
    from pathlib import Path

    from claw_nb.lab.optimize.command import adopt_from_words, words_db

    print(adopt_from_words(args, words_db(args, None), Path.cwd()))
    return EXIT_OK
