"""`%claw lab optimize compare|sweep|reflect|adopt|show ...` in a notebook.

The same verbs and options as `claw-nb lab optimize` (one table:
`claw_nb.lab.optimize.command_options`; the checks and the run: `claw_nb.lab.optimize.command`);
the trials show in the lab view (widgets in a live kernel, text under nbconvert), reflect's steps
as lines under it. Running the cell is the confirmation: the plan is printed and the run starts
(`--dry-run` stops after the plan). A run returns its Comparison or ReflectResult (shown as its
report). Interrupting the kernel stops the command's token (the run ends cleanly; a second
interrupt aborts it); the same cell (same `--name`) resumes.
"""

from __future__ import annotations

import argparse
from typing import Any

from claw_nb.errors import ClawError

PROG = "%claw lab optimize"


def add_parser(lab_commands: argparse._SubParsersAction, parser_class: type) -> None:
    from claw_nb.lab.optimize.command_options import add_optimize_parser

    add_optimize_parser(lab_commands, parser_class, add_help=False)


def help_text() -> str:
    from claw_nb.lab.optimize.command_options import optimize_help

    return optimize_help(PROG)


def run_optimize_magic(args: argparse.Namespace, config: Any, view: Any) -> Any:
    """One verb with the magics' settings; `view` makes the lab progress view for the trials."""
    from claw_nb.lab.optimize.command import adopt_from_words, prepare, words_db
    from claw_nb.lab.optimize.command_options import canonical_verb
    from claw_nb.lab.optimize.run_log import describe_step
    from claw_nb.stop import StopToken, sigint_stops

    verb = canonical_verb(args.optimize_command)
    if verb == "show":
        from claw_nb.lab.optimize.reports import run_report, runs_table

        db = words_db(args, config.resolved_db_path)
        if args.run is None:
            return runs_table(db)
        print(run_report(db, args.run, per_task=args.per_task))
        return None
    if verb == "adopt":
        print(adopt_from_words(args, words_db(args, config.resolved_db_path), config.workspace))
        return None
    job = prepare(args, config)
    print(job.plan, flush=True)
    if args.dry_run:
        return None
    resume = f"run the cell again (it names the run: --name {job.name}) to resume"

    def step_line(event: dict[str, Any]) -> None:
        line = describe_step(event)
        if line:
            print(line, flush=True)

    try:
        with sigint_stops(StopToken()) as stop:  # the kernel's interrupt stops this cell's run
            outcome = job.run(view(), on_step=step_line, stop=stop)
    except KeyboardInterrupt:  # the second interrupt: it did not wait for the clean stop
        raise ClawError(f"{PROG}: interrupted; {resume}") from None
    if outcome.stopped:
        print(f"stopped; {resume}")
        return None
    return outcome.result  # shown as its report (the leaderboard, or the reflect verdict)
