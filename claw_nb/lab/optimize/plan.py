"""What an optimizer run will cost, said before it starts: trials or rollouts, and wall time.

The wall-time estimate uses the time per trial measured in the log (the mean over finished
trials, optionally of one model); with nothing measured yet it says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claw_nb.records import record


@record(frozen=True)
class RunPlan:
    search_rollouts: int
    held_out_rollouts: int
    parallel: int
    seconds_per_trial: float | None
    trials_measured: int

    @property
    def total_rollouts(self) -> int:
        return self.search_rollouts + self.held_out_rollouts

    @property
    def estimate_s(self) -> float | None:
        if self.seconds_per_trial is None:
            return None
        return self.total_rollouts * self.seconds_per_trial / max(1, self.parallel)

    def __str__(self) -> str:
        head = (
            f"{self.total_rollouts} rollouts ({self.search_rollouts} search + "
            f"{self.held_out_rollouts} held-out check)"
        )
        if self.estimate_s is None:
            return f"{head}; no trials measured in the log yet, so no time estimate"
        return (
            f"{head}; about {format_duration(self.estimate_s)} at {self.seconds_per_trial:.1f} s "
            f"per trial (median of {self.trials_measured} logged trials, "
            f"{self.parallel} in parallel)"
        )


def format_duration(seconds: float) -> str:
    """ "42 s", "7 min", "1.5 h": a wall time as a plan states it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def measured_seconds_per_trial(
    db_path: Path | None, model: str | None = None
) -> tuple[float | None, int]:
    """(median wall seconds per finished trial, how many trials it is over).

    The median, not the mean: the first trial of a process pays for importing LiteLLM.
    """
    from claw_nb.lab.store import seconds_per_trial

    if db_path is None or not Path(db_path).exists():
        return None, 0
    return seconds_per_trial(Path(db_path), model)


def plan_rollouts(
    search: int,
    held_out: int,
    db_path: Path | None = None,
    parallel: int = 1,
    model: str | None = None,
) -> RunPlan:
    seconds, count = measured_seconds_per_trial(db_path, model)
    return RunPlan(search, held_out, parallel, seconds, count)


def plan_trials(
    verb: str,
    tasks: Sequence[Any],
    variants: Sequence[Any],
    repeats: int,
    name: str,
    db_path: Path,
    slots: int | None,
    resumed: bool,
) -> str:
    """A compare's or sweep's plan as the shells print it: trials (and how many the log has
    already, when resuming), the wall time, the smallest difference it can detect."""
    from claw_nb.lab import power
    from claw_nb.lab.executors import model_slots
    from claw_nb.lab.store import load_results

    total = len(variants) * len(tasks) * repeats
    done = 0
    if resumed:
        names, wanted = {v.name for v in variants}, {t.name for t in tasks}
        done = sum(
            1
            for r in load_results(db_path, name)
            if r.variant in names and r.task in wanted and r.repeat < repeats
        )
    parallel = slots or model_slots()
    seconds, measured = measured_seconds_per_trial(db_path)
    head = (
        f"{verb} '{name}': {len(variants)} variants x {len(tasks)} tasks x {repeats} repeat(s)"
        f" = {total} trials"
        + (f" ({done} already in the log, {total - done} to run)" if resumed else "")
    )
    if seconds is None:
        when = "no trials measured in the log yet, so no time estimate"
    else:
        left = (total - done) * seconds / max(1, parallel)
        when = (
            f"about {format_duration(left)} at {seconds:.1f} s per trial (median of "
            f"{measured} logged trials, {parallel} in parallel)"
        )
    mdd = power.minimum_detectable_difference(len(tasks), repeats)
    return (
        f"{head}; {when}\nsmallest difference this can detect (80% power, 5% two-sided): "
        f"{mdd * 100:.0f} points"
    )
