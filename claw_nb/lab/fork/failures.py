"""Forking every failed trial of an experiment at its first failing step, and comparing the
forks with their originals, paired by trial.

The first failing step, one rule (`Trajectory.first_failing_step`): the first step whose tool
call failed, else the last step. Every fork is recorded as in `claw_nb.lab.fork.run`. The
comparison pairs each original trial (its reward) with its forks' rewards and uses the lab's
paired statistics (`claw_nb.lab.statistics.paired_comparison`: exact McNemar for one 0/1 fork
per trial, a sign-flip test with repeats, the small-sample flag). Only failed trials are
forked, so the originals all scored below 1: the comparison says how many failures a variant
recovers from the point they went wrong, not how it would do from the start. Every fork is
planned first and then all go to the executor at once, so a pool or a Ray cluster runs them
side by side; a stop leaves the comparison of the forks that finished.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.plan import ForkPlanner, logged_trajectory
from claw_nb.lab.fork.run import ForkResult, run_forks
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas

    from claw_nb.lab.statistics import PairedComparison
    from claw_nb.stop import StopToken


@dataclass(frozen=True)
class FailureForks:
    """The forks of an experiment's failed trials, and their paired comparison."""

    experiment: str
    variant: str
    forks: tuple[ForkResult, ...]
    comparison: PairedComparison
    stopped: bool = False  # a stop cut the run: `forks` holds the ones that finished

    def frame(self) -> pandas.DataFrame:
        """One row per fork: the original trial, the step, both rewards, replay and cost."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "task": f.task,
                    "original": f.forked_from,
                    "fork_step": f.fork_step,
                    "original_reward": f.original_reward,
                    "fork": f.session_id,
                    "reward": f.reward,
                    "diverged": len(f.divergences),
                    "model_calls": f.model_calls,
                    "calls_saved": f.calls_saved,
                    "tokens": f.prompt_tokens + f.completion_tokens,
                    "tokens_saved": f.tokens_saved,
                    "wall_s": round(f.wall_s, 3),
                }
                for f in self.forks
            ]
        )

    def summary(self) -> str:
        recovered = sum(f.passed for f in self.forks)
        text = (
            f"{len(self.forks)} fork(s) of failed trials of {self.experiment} under "
            f"{self.variant}: {recovered} passed; fork vs original "
            f"{self.comparison.summary()}"
        )
        return text + ("; stopped before the end" if self.stopped else "")


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
    stop: StopToken | None = None,
    on_result: Callable[[ForkResult], None] | None = None,
) -> FailureForks:
    """Fork each failed trial of `experiment` at its first failing step under `variant`
    (`repeats` forks each) and compare them with the originals. `executor`: where the forks
    run (default: a local pool of the model server's slots); `on_result` sees each fork as it
    is recorded."""
    from claw_nb.lab.statistics import paired_comparison
    from claw_nb.lab.store import list_experiments

    path = resolve_db_path(db_path)
    names = list_experiments(path)
    if experiment not in names:
        known = ", ".join(names[-10:]) or "none yet"
        raise LabError(f"no experiment {experiment!r} in {path} (experiments: {known})")
    failed = store.failed_trials(path, experiment)
    if not failed:
        raise LabError(f"experiment {experiment!r} has no failed trials to fork")
    planner = ForkPlanner(
        path,
        variant,
        repeats=repeats,
        experiment=forks_experiment,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
    )
    plans = []
    for session_id, _, _, _ in failed:
        trajectory = logged_trajectory(path, session_id)
        if not trajectory.steps:
            continue  # the trial never got a reply (a dead server): nothing to fork
        plans += planner.plan(session_id, trajectory, trajectory.first_failing_step())
    if not plans:
        raise LabError(f"no failed trial of {experiment!r} made a model call: nothing to fork")
    forks, stopped = run_forks(path, plans, executor=executor, stop=stop, on_result=on_result)
    originals: dict[str, list[float]] = {}
    forked: dict[str, list[float]] = {}
    for f in forks:
        originals[f.forked_from] = [f.original_reward]
        forked.setdefault(f.forked_from, []).append(f.reward)
    return FailureForks(
        experiment, variant.name, tuple(forks), paired_comparison(originals, forked), stopped
    )
