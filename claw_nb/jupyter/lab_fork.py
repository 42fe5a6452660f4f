"""`%claw lab fork SESSION --at-step K --variant NAME=FILE.toml` and `%claw lab fork-failures
EXPERIMENT --variant ...` in a notebook.

The same words as `claw-nb lab fork|fork-failures` (one table: `claw_nb.lab.command_options`),
checked in the cell by `claw_nb.lab.fork.command.prepare_fork` (an unknown session or
experiment, a step outside the trial, a bad variant file are one line, before anything runs;
a relative variant file is read from the kernel's working directory). The forks run on the
executor `%claw lab run` takes: a local pool of the model server's slots (`--slots N` for N at
a time), or a Ray cluster (`--ray ADDRESS`), so `fork-failures` forks many trials side by side.
The forks show in the lab view (queued, running step n, verifying, passed/failed, stopped,
with times), a line per finished fork with its session id, and at the end the forks next to
their originals with the paired comparison (:class:`ForkTable`).

As with `%claw lab run`: with the widget view the forks go on in the background (the cell
returns a handle at once; Stop button, `%claw lab stop`, `handle.stop()`; `handle.wait()` gives
the ForkTable); with the text view the cell waits and returns it, and interrupting the kernel
stops the forks (a second interrupt aborts). A fork cut by a stop keeps its session but is not
recorded as a trial nor compared.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

from claw_nb.errors import ClawError

PROG = "%claw lab"


class ForkTable:
    """Forks next to their originals as a person reads them; the numbers (and `frame()`,
    `comparison`, `forks`) are the lab's ForkReport's (`claw_nb.lab.fork.report`)."""

    def __init__(self, report: Any, experiment: str = "") -> None:
        self.report = report
        self.experiment = experiment or report.experiment

    @property
    def forks(self) -> tuple:
        return self.report.forks

    @property
    def comparison(self) -> Any:
        return self.report.comparison

    @property
    def stopped(self) -> bool:
        return self.report.stopped

    def frame(self) -> Any:
        """One row per fork, raw numbers."""
        return self.report.frame()

    @property
    def title(self) -> str:
        where = f" (experiment {self.experiment})" if self.experiment else ""
        return f"forks of {self.report.what} under {self.report.variant}{where}"

    def table(self) -> Any:
        """The forks as shown: strings, each fork's session id next to its original's."""
        import pandas as pd

        columns = [
            "task",
            "original",
            "step",
            "original reward",
            "fork",
            "reward",
            "verdict",
            "diverged",
            "calls saved",
            "tokens saved",
            "time",
        ]
        rows = [
            [
                f.task,
                f.forked_from,
                f.fork_step,
                f"{f.original_reward:g}",
                f.session_id or "\u2013",
                f"{f.reward:g}",
                _verdict(f),
                len(f.divergences),
                f.calls_saved,
                f"{f.tokens_saved:,}",
                f"{f.wall_s:.1f} s",
            ]
            for f in self.forks
        ]
        return pd.DataFrame(rows, columns=columns)

    def divergences(self) -> list[str]:
        return [f"{f.session_id}: {d.summary()}" for f in self.forks for d in f.divergences]

    def text(self) -> str:
        parts = [self.title]
        parts.append(self.table().to_string(index=False) if self.forks else "no fork finished")
        parts += [f"diverged: {line}" for line in self.divergences()]
        parts.append(self.report.summary())
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        from claw_nb.jupyter.lab_report import table_html

        parts = [f"<b>{html.escape(self.title)}</b>"]
        parts.append(
            table_html(self.table()) if self.forks else "<div><i>no fork finished</i></div>"
        )
        parts += [f"<div>diverged: {html.escape(line)}</div>" for line in self.divergences()]
        parts.append(
            f"<div style='margin-top:4px;max-width:60em'>{html.escape(self.report.summary())}</div>"
        )
        return "<div class='claw-lab-forks'>" + "".join(parts) + "</div>"


def _verdict(fork: Any) -> str:
    from claw_nb.lab.progress import ERROR_STOPS
    from claw_nb.outcomes import StopReason

    if fork.passed:
        return "passed"
    reason = str(fork.stop_reason).replace("_", " ")
    if fork.stop_reason == StopReason.STUCK:
        return "stuck"
    return f"{'error' if fork.stop_reason in ERROR_STOPS else 'failed'} ({reason})"


def run_fork_magic(args: argparse.Namespace, config: Any, widgets: bool, runs: Any) -> Any:
    """`%claw lab fork|fork-failures` with the magics' settings (`config`: a ClawConfig; its
    log and API key unless the words name others); `widgets`: the lab view is widgets;
    `runs`: the kernel's background lab runs (claw_nb.jupyter.lab_runs.LabRuns)."""
    from claw_nb.lab.fork.command import prepare_fork

    db = Path(args.db).expanduser().resolve() if args.db else config.resolved_db_path
    job = prepare_fork(args, db_path=db, api_key=config.api_key, variant_base=Path.cwd())
    print(job.plan, flush=True)
    resume = (
        f"the finished forks are in the log ({job.name}); the cut one is not a trial, "
        "and running the cell again forks again"
    )
    wait = args.wait if args.wait is not None else not widgets
    if wait:
        return _run_here(job, widgets, resume)
    return _run_in_background(job, widgets, resume, runs)


def _view(widgets: bool, resume: str, stop: Any = None) -> Any:
    """The lab view without a leaderboard: the forks' own table closes the run."""
    from claw_nb.jupyter.lab_view import TextLabView, WidgetLabView

    if widgets:
        return WidgetLabView(stop=stop, boards=False, resume=resume)
    return TextLabView(boards=False, resume=resume)


def _run_here(job: Any, widgets: bool, resume: str) -> Any:
    from claw_nb.stop import StopToken, sigint_stops

    view = _view(widgets, resume)
    try:
        with sigint_stops(StopToken()) as stop:  # the kernel's interrupt stops the forks
            report = job.run(view, stop, on_fork=lambda f: view.step(f.summary()))
    except KeyboardInterrupt:  # the second interrupt: it did not wait for the clean stop
        raise ClawError(f"{PROG} {job.kind}: interrupted; {resume}") from None
    return ForkTable(report, job.name)  # the cell's Out: forks against their originals


def _run_in_background(job: Any, widgets: bool, resume: str, runs: Any) -> Any:
    from claw_nb.jupyter.lab_runs import LabRun

    run = LabRun(job.kind, job.name, None)
    run.view = _view(widgets, resume, stop=run.stop)

    def work(run: LabRun) -> Any:
        report = job.run(run.view, run.token, on_fork=lambda f: run.view.step(f.summary()))
        table = ForkTable(report, job.name)
        run.view.show(table)
        return table

    if not widgets:
        print(f"{job.kind} '{job.name}' goes on in the background; %claw lab stop stops it")
    return runs.start(run, work)
