"""Power planner: the smallest difference a suite of this size can tell from noise.

Say it before a run, so nobody reads noise as a win.

Method (normal approximation for paired proportions, the z-test on the mean per-task
difference, as in Connor's 1987 sample size for McNemar's test with the variance taken under
no effect): each task i has a chance pi_i that a run passes, shared by both variants when
they are equally good. A share `task_correlation` (rho) of the outcome variance p(1-p) comes
from which task it is (hard tasks are hard for every prompt); the rest is run-to-run noise.
The per-task difference of two variants, each averaged over r repeats, then has variance

    sigma_d^2 = 2 * (1 - rho) * p * (1 - p) / r

and with n tasks the minimum detectable difference is

    MDD = (z_{1 - alpha/2} + z_{power}) * sigma_d / sqrt(n).

At n = 20, r = 1, p = 0.5, rho = 0.6 this is 0.28 (28 points). Two caveats, both optimistic:
repeats only average the run-to-run noise, so if a prompt helps some tasks and hurts others,
more repeats do not shrink that spread; and below ~10 tasks the normal approximation itself
is rough (the exact tests the lab uses are then conservative).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

from claw_nb.errors import ConfigError

if TYPE_CHECKING:
    import pandas

DEFAULT_TASK_CORRELATION = 0.6
"""How much of a result is explained by the task (intra-task correlation); see `task_correlation`."""


def _check(
    n_tasks: int,
    repeats: int,
    base_rate: float,
    alpha: float,
    power: float,
    task_correlation: float,
) -> None:
    if n_tasks < 1 or repeats < 1:
        raise ConfigError(f"need at least one task and one repeat (got {n_tasks}, {repeats})")
    if not 0 < base_rate < 1:
        raise ConfigError(f"base_rate must be strictly between 0 and 1 (got {base_rate})")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ConfigError(f"alpha and power must be between 0 and 1 (got {alpha}, {power})")
    if not 0 <= task_correlation < 1:
        raise ConfigError(f"task_correlation must be in [0, 1) (got {task_correlation})")


def difference_sd(
    repeats: int = 1, base_rate: float = 0.5, task_correlation: float = DEFAULT_TASK_CORRELATION
) -> float:
    """Standard deviation of one task's difference in mean reward between two equal variants."""
    return math.sqrt(2 * (1 - task_correlation) * base_rate * (1 - base_rate) / repeats)


def minimum_detectable_difference(
    n_tasks: int,
    repeats: int = 1,
    base_rate: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    task_correlation: float = DEFAULT_TASK_CORRELATION,
) -> float:
    """Smallest true gain in pass rate (0..1) a two-sided paired test finds with this power."""
    _check(n_tasks, repeats, base_rate, alpha, power, task_correlation)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * difference_sd(repeats, base_rate, task_correlation) / math.sqrt(n_tasks)


def tasks_needed(
    difference: float,
    repeats: int = 1,
    base_rate: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    task_correlation: float = DEFAULT_TASK_CORRELATION,
) -> int:
    """Tasks needed to detect `difference` (0..1) with this power: the planner read backwards."""
    if not 0 < difference <= 1:
        raise ConfigError(f"difference must be in (0, 1] (got {difference})")
    _check(1, repeats, base_rate, alpha, power, task_correlation)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    sd = difference_sd(repeats, base_rate, task_correlation)
    return max(1, math.ceil((z * sd / difference) ** 2))


def task_correlation(rewards_by_task: dict[str, list[float]]) -> float:
    """Estimate rho from one variant's repeated runs (one-way ANOVA intra-class correlation).

    Needs at least two tasks with two or more repeats; returns the default otherwise. Clipped
    to [0, 0.95] so a lucky small run does not promise miracles.
    """
    groups = [list(map(float, r)) for r in rewards_by_task.values() if len(r) >= 2]
    if len(groups) < 2:
        return DEFAULT_TASK_CORRELATION
    k = sum(len(g) for g in groups) / len(groups)
    grand = sum(sum(g) for g in groups) / sum(len(g) for g in groups)
    between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups) / (len(groups) - 1)
    within_df = sum(len(g) - 1 for g in groups)
    within = sum(sum((x - sum(g) / len(g)) ** 2 for x in g) for g in groups) / within_df
    if between + (k - 1) * within == 0:
        return DEFAULT_TASK_CORRELATION
    rho = (between - within) / (between + (k - 1) * within)
    return min(0.95, max(0.0, rho))


def power_table(
    task_counts: tuple[int, ...] = (10, 20, 30, 50, 100),
    repeats: tuple[int, ...] = (1, 3, 5),
    base_rate: float = 0.5,
    *,
    task_correlation: float = DEFAULT_TASK_CORRELATION,
) -> pandas.DataFrame:
    """Minimum detectable difference in points for a grid of suite sizes x repeats."""
    import pandas as pd

    return pd.DataFrame(
        {
            f"{r} repeat{'s' if r > 1 else ''}": [
                round(
                    100
                    * minimum_detectable_difference(
                        n, r, base_rate, task_correlation=task_correlation
                    ),
                    1,
                )
                for n in task_counts
            ]
            for r in repeats
        },
        index=pd.Index(task_counts, name="tasks"),
    )
