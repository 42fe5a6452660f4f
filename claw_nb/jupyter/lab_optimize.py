"""`%claw lab optimize compare|sweep|reflect|adopt|show ...` in a notebook.

The same verbs and options as `claw-nb lab optimize` (one table:
`claw_nb.lab.optimize.command_options`; the checks and the run: `claw_nb.lab.optimize.command`),
plus the notebook's `--wait/--no-wait` (from the lab's table, `claw_nb.lab.command_options`).
The trials show in the lab view, reflect's steps as lines in it. Running the cell is the
confirmation: the plan is printed and the run starts (`--dry-run` stops after the plan).

As with `%claw lab run`: with the widget view the run goes on in the background (the cell
returns a handle at once; Stop button, `%claw lab stop`, `handle.stop()`; `handle.wait()`
gives the Comparison or ReflectResult); with the text view the cell waits and returns it
(shown as its report), and interrupting the kernel stops the run (a second interrupt aborts
it). The same `--name` resumes.
"""

from __future__ import annotations

import argparse
from typing import Any

from claw_nb.errors import ClawError

PROG = "%claw lab optimize"


def add_parser(lab_commands: argparse._SubParsersAction, parser_class: type) -> None:
    from claw_nb.lab.command_options import OPTIONS
    from claw_nb.lab.optimize.command_options import RUN_VERBS, add_optimize_parser

    optimize = add_optimize_parser(lab_commands, parser_class, add_help=False)
    wait = next(o for o in OPTIONS if o.flags == ("--wait",))
    for action in optimize._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb in RUN_VERBS:
                action.choices[verb].add_argument(*wait.flags, help=wait.help, **wait.kwargs)


def help_text() -> str:
    from claw_nb.lab.command_options import OPTIONS
    from claw_nb.lab.optimize.command_options import RUN_VERBS, optimize_help

    wait = next(o for o in OPTIONS if o.flags == ("--wait",))
    return optimize_help(PROG) + (
        f"{', '.join(RUN_VERBS)} also take:\n    {wait.usage():<28}{wait.help}\n"
    )


def run_optimize_magic(args: argparse.Namespace, config: Any, widgets: bool, runs: Any) -> Any:
    """One verb with the magics' settings; `widgets`: the lab view is widgets; `runs`: the
    kernel's background lab runs (claw_nb.jupyter.lab_runs.LabRuns)."""
    from claw_nb.lab.optimize.command import adopt_from_words, prepare, words_db
    from claw_nb.lab.optimize.command_options import canonical_verb

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
    again = "run the cell again" if args.name else f"run it again with --name {job.name}"
    resume = f"{again} to resume (finished trials are kept)"
    wait = args.wait if args.wait is not None else not widgets
    if wait:
        return _run_here(job, widgets, resume)
    return _run_in_background(job, widgets, resume, runs)


def _view(widgets: bool, job: Any, resume: str, stop: Any = None, waits: bool = False) -> Any:
    """The lab view for `job`: no leaderboard for reflect (its many small runs: its steps say
    more), nor in a text cell that waits (the Comparison it returns shows one)."""
    from claw_nb.jupyter.lab_view import TextLabView, WidgetLabView

    boards = job.kind != "reflect"
    if widgets:
        return WidgetLabView(stop=stop, boards=boards, resume=resume)
    return TextLabView(boards=boards and not waits, resume=resume)


def _run_here(job: Any, widgets: bool, resume: str) -> Any:
    from claw_nb.stop import StopToken, sigint_stops

    view = _view(widgets, job, resume, waits=True)
    try:
        with sigint_stops(StopToken()) as stop:  # the kernel's interrupt stops this cell's run
            outcome = job.run(view, on_step=view.on_step, stop=stop)
    except KeyboardInterrupt:  # the second interrupt: it did not wait for the clean stop
        raise ClawError(f"{PROG}: interrupted; {resume}") from None
    if outcome.stopped:
        print(f"stopped; {resume}")
        return None
    return outcome.result  # shown as its report (the leaderboard, or the reflect verdict)


def _run_in_background(job: Any, widgets: bool, resume: str, runs: Any) -> Any:
    from claw_nb.jupyter.lab_runs import LabRun

    run = LabRun(job.kind, job.name, None)
    run.view = _view(widgets, job, resume, stop=run.stop)

    def work(run: LabRun) -> Any:
        outcome = job.run(run.view, on_step=run.view.on_step, stop=run.token)
        if not outcome.stopped and job.kind == "reflect":
            run.view.report(outcome.report)
        return outcome.result

    if not widgets:
        print(f"{job.kind} '{job.name}' goes on in the background; %claw lab stop stops it")
    return runs.start(run, work)
