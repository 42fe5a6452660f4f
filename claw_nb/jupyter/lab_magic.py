"""`%claw lab ...` in a notebook: the same commands and options as `claw-nb lab` (one table,
`claw_nb.lab.command_options`), shown with the lab view (claw_nb.jupyter.lab_view).

    %claw lab run builtin --variant base --variant terse=terse.toml --repeats 3
    %claw lab report EXPERIMENT [--per-task] [--all]
    %claw lab check builtin
    %claw lab plan 20 --repeats 2
    %claw lab stop
    %claw lab optimize compare builtin --variant base --variant terse=terse.toml --repeats 3
    %claw lab fork 3f9c2a --at-step 6 --variant strict=strict.toml [--repeats 3]
    %claw lab fork-failures EXPERIMENT --variant strict=strict.toml [--slots 2 | --ray auto]
    %claw lab help            (or %claw lab run --help)

With the widget view (JupyterLab, Notebook) a run goes on in the background: the cell returns
at once with the live view and a handle (`.stop()`, `.wait()`), other cells run meanwhile, and
the view's Stop button, `%claw lab stop` or the handle stop it. With the text view (nbconvert,
a terminal) the cell waits for the end, and interrupting the kernel stops the run (a second
interrupt aborts it). `--no-wait` / `--wait` choose the other way. Either way the finished
trials are in the DuckDB log and running the same experiment again resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from claw_nb.errors import ClawError
from claw_nb.jupyter.lab_optimize import add_parser as add_optimize_parser
from claw_nb.jupyter.lab_optimize import help_text as optimize_help
from claw_nb.jupyter.lab_optimize import run_optimize_magic
from claw_nb.jupyter.lab_runs import LabRun, LabRuns
from claw_nb.jupyter.lab_view import RESUME, TextLabView, WidgetLabView
from claw_nb.lab.command_options import add_lab_commands, commands_for, lab_help
from claw_nb.stop import StopToken, sigint_stops

PROG = "%claw lab"
HELP_WORDS = ("help", "-h", "--help")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ClawError(f"{PROG}: {message} (see {PROG} help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_lab_commands(sub, "notebook", add_help=False)
    add_optimize_parser(sub, _Parser)
    return parser


def help_text(command: str | None = None) -> str:
    """`%claw lab help [COMMAND]`: the commands and their options, from the table."""
    text = lab_help(PROG, "notebook", command)
    if command is None:
        text += (
            f"{PROG} optimize VERB ...: compare, sweep, reflect (gepa), adopt, show "
            f"(`{PROG} optimize help`)\n{PROG} help [COMMAND]: this text\n"
        )
    return text


def run_lab_magic(words: list[str], config: Any, widgets: bool, runs: LabRuns) -> Any:
    """Run ``%claw lab WORDS`` with the magics' settings (``config``: a ClawConfig);
    `widgets`: the live view is widgets; `runs`: the kernel's background lab runs."""
    known = [c.name for c in commands_for("notebook")]
    if not words or words[0] in HELP_WORDS:
        wanted = words[1] if len(words) > 1 else None
        if wanted == "optimize":
            print(optimize_help())
        else:
            print(help_text(wanted if wanted in known else None))
        return None
    if words[0] == "optimize" and (
        words[1:] in ([], ["help"]) or any(w in HELP_WORDS[1:] for w in words)
    ):
        print(optimize_help())
        return None
    if any(w in HELP_WORDS[1:] for w in words[1:]) and words[0] in known:
        print(help_text(words[0]))
        return None
    args = _parser().parse_args(words)
    if args.command == "check":
        return _check(args)
    if args.command == "report":
        return _report(args, config)
    if args.command == "plan":
        from claw_nb.lab.command import plan_text

        print(plan_text(args.tasks, args.repeats))
        return None
    if args.command == "stop":
        return _stop(runs)
    if args.command == "optimize":
        return run_optimize_magic(args, config, widgets, runs)
    if args.command in ("fork", "fork-failures"):
        from claw_nb.jupyter.lab_fork import run_fork_magic

        return run_fork_magic(args, config, widgets, runs)
    return _run(args, config, widgets, runs)


def _db(args: argparse.Namespace, config: Any) -> Path:
    db = getattr(args, "db", None)
    return Path(db).expanduser().resolve() if db else config.resolved_db_path


def _run(args: argparse.Namespace, config: Any, widgets: bool, runs: LabRuns) -> Any:
    from claw_nb.lab.command import prepare_run

    job = prepare_run(
        args,
        db_path=_db(args, config),
        model=args.model or config.model,
        api_base=args.api_base or config.api_base,
        api_key=args.api_key or config.api_key,
    )
    resume = (
        RESUME
        if args.experiment
        else f"run it again with --experiment {job.name} to resume (finished trials are kept)"
    )
    wait = args.wait if args.wait is not None else not widgets
    view_class = WidgetLabView if widgets else TextLabView
    if wait:
        with sigint_stops(StopToken()) as stop:  # the kernel's interrupt stops this cell's run
            return job.run(view_class(resume=resume), stop)
    run = LabRun("run", job.name, None)
    run.view = view_class(stop=run.stop, resume=resume) if widgets else view_class(resume=resume)
    if not widgets:
        print(
            f"lab run '{job.name}': {job.trials} trial(s) in the background; "
            "%claw lab stop (or .stop() on the value of this cell) stops it",
            flush=True,
        )
    return runs.start(run, lambda r: job.run(r.view, r.token))


def _stop(runs: LabRuns) -> None:
    stopped = runs.stop_all()
    if not stopped:
        print("claw: no lab run is going on")
        return
    for run in stopped:
        what = "cancelled (it had not started)" if run.status == "cancelled" else "stopping"
        print(f"claw: lab {run.kind} '{run.name}': {what}")


def _report(args: argparse.Namespace, config: Any) -> Any:
    from claw_nb.jupyter.lab_report import LabReport
    from claw_nb.lab.experiment import list_experiments, open_experiment

    db = _db(args, config)
    name = args.experiment or (list_experiments(db) or [None])[-1]
    if name is None:
        raise ClawError("no experiments in the log yet: `%claw lab run TASKS` first")
    exp = open_experiment(name, db)
    board = exp.leaderboard(baseline=args.baseline)
    if args.all_columns:
        if args.per_task:
            from IPython.display import display

            display(exp.per_task())
        return board
    trials = int(board["trials"].sum()) if len(board) else 0
    per_task = exp.per_task() if args.per_task else None
    return LabReport(board, per_task=per_task, title=f"experiment {name} ({trials} trials)")


def _check(args: argparse.Namespace) -> Any:
    import pandas as pd

    from claw_nb.lab.tasks import load_tasks
    from claw_nb.lab.verify import check_tasks

    def show(result: Any) -> None:
        print(
            ("ok   " if result.ok else "FAIL ")
            + result.task
            + "".join(f"\n     {p}" for p in result.problems),
            flush=True,
        )

    results = check_tasks(
        load_tasks(args.tasks), unsandboxed=args.unsandboxed, workers=args.workers, on_result=show
    )
    return pd.DataFrame(
        [
            {
                "task": r.task,
                "oracle": r.oracle_reward,
                "untouched": r.untouched_reward,
                "ok": r.ok,
                "problems": "; ".join(r.problems),
            }
            for r in results
        ]
    )
