"""Forking every failed trial of an experiment at its first failing step, and comparing the
forks with their originals, paired by trial (`claw_nb.lab.fork.report`).

The first failing step, one rule (`Trajectory.first_failing_step`): the first step whose tool
call failed, else the last step. Every fork is planned first and then all go to the executor
at once, so a pool or a Ray cluster runs them side by side; each is recorded as in
`claw_nb.lab.fork.run`, and a stop leaves the comparison of the forks that finished. Only
failed trials are forked, so the originals all scored below 1: the comparison says how many
failures a variant recovers from the point they went wrong, not how it would do from the start.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.plan import ForkPoint, fork_point
from claw_nb.lab.fork.report import ForkReport, compare_forks
from claw_nb.lab.fork.run import ForkResult, run_forks
from claw_nb.lab.fork.trajectory import NothingToFork
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from claw_nb.lab.progress import Progress
    from claw_nb.stop import StopToken

FailureForks = ForkReport  # its name before `lab fork` had a report too


def failed_sessions(experiment: str, db_path: str | os.PathLike[str] | None = None) -> list[str]:
    """The sessions of the experiment's failed trials; one-line errors for an unknown
    experiment or one with nothing failed (a quick check: it reads no trajectory)."""
    from claw_nb.lab.store import list_experiments

    path = resolve_db_path(db_path)
    if not path.exists() or store.experiment_config(path, experiment) is None:
        names = list_experiments(path) if path.exists() else []
        known = ", ".join(names[-10:]) or "none yet"
        raise LabError(f"no experiment {experiment!r} in {path} (experiments: {known})")
    failed = store.failed_trials(path, experiment)
    if not failed:
        raise LabError(f"experiment {experiment!r} has no failed trials to fork")
    return [session_id for session_id, _, _, _ in failed]


def failure_points(
    experiment: str, db_path: str | os.PathLike[str] | None = None
) -> list[ForkPoint]:
    """Each failed trial of `experiment` at its first failing step (those that never got a
    reply are left out); one-line errors for an unknown experiment or nothing to fork."""
    path = resolve_db_path(db_path)
    points = []
    for session_id in failed_sessions(experiment, path):
        try:
            points.append(fork_point(session_id, None, path))
        except NothingToFork:
            continue  # the trial never got a reply (a dead server)
    if not points:
        raise LabError(f"no failed trial of {experiment!r} made a model call: nothing to fork")
    return points


def fork_failures(
    experiment: str,
    variant: Variant,
    *,
    repeats: int = 1,
    db_path: str | os.PathLike[str] | None = None,
    forks_experiment: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    unsandboxed: bool | None = None,
    executor: Any = None,
    progress: Progress | None = None,
    on_fork: Callable[[ForkResult], None] | None = None,
    stop: StopToken | None = None,
) -> ForkReport:
    """Fork each failed trial of `experiment` at its first failing step under `variant`
    (`repeats` forks each) and compare them with the originals. `executor`: where the forks
    run (default: a local pool of the model server's slots); `progress`: a lab display;
    `on_fork` sees each fork as it is recorded."""
    points = failure_points(experiment, db_path)
    forks, stopped = run_forks(
        points,
        variant,
        repeats=repeats,
        db_path=db_path,
        experiment=forks_experiment,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
        executor=executor,
        progress=progress,
        on_fork=on_fork,
        stop=stop,
    )
    return compare_forks(f"failed trials of {experiment}", variant.name, forks, stopped)
