"""Running trials for the optimizers through the lab runner, and where a run keeps its state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claw_nb.log.database import resolve_db_path


class TrialsStopped(Exception):
    """The lab runner was stopped (Ctrl-C, stop) before every trial ran: scores would lie."""


def run_dir_for(run: str, db_path: Path | None = None) -> Path:
    """gepa's state for `run`: `optimize/<run>/` next to the log file."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run)
    return resolve_db_path(db_path).parent / "optimize" / safe


def bind_runner(db_path: Path, run_options: dict[str, Any]):
    """(tasks, variants, repeats, experiment) -> the trial results of exactly those."""
    from claw_nb.lab.runner import run_experiment

    def run_trials(
        tasks: Sequence[Any], variants: Sequence[Any], repeats: int, experiment: str
    ) -> list[Any]:
        exp = run_experiment(
            list(tasks),
            list(variants),
            repeats=repeats,
            experiment=experiment,
            db_path=db_path,
            **run_options,
        )
        if exp.stopped:
            raise TrialsStopped(f"experiment {experiment!r} was stopped before it finished")
        names = {v.name for v in variants}
        wanted = {t.name for t in tasks}
        return [r for r in exp.results() if r.variant in names and r.task in wanted]

    return run_trials
