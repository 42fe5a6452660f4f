"""Intervals for small suites: Wilson for a proportion, a bootstrap over whole tasks, and the
unbiased pass@k / pass^k. Pure numpy and the standard library."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from claw_nb.errors import ConfigError


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (got {confidence}); use e.g. 0.95")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sane at 0/n and n/n, where Wald's collapses."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ConfigError(f"successes ({successes}) must be between 0 and n ({n})")
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def task_means(rewards_by_task: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Each task's mean reward over its repeats: the unit every score and test works on."""
    means = [float(np.mean(r)) for r in rewards_by_task.values() if len(r)]
    return np.asarray(means, dtype=float)


def percentile_bootstrap(
    values: np.ndarray, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of the mean of `values`, resampling them with replacement."""
    _z(confidence)
    if len(values) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    batch = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, resamples, batch):
        stop = min(resamples, start + batch)
        idx = rng.integers(0, len(values), size=(stop - start, len(values)))
        means[start:stop] = values[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return (float(lo), float(hi))


def bootstrap_interval(
    rewards_by_task: Mapping[str, Sequence[float]],
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean, lo, hi): a percentile bootstrap that resamples whole tasks with their repeats.

    Resampling tasks (not single runs) is what makes the interval honest: repeats of one task
    are not independent evidence about the suite.
    """
    means = task_means(rewards_by_task)
    if len(means) == 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = percentile_bootstrap(means, confidence, resamples, seed)
    return (float(means.mean()), lo, hi)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k runs passes, estimated without bias from c passes in n runs."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ConfigError(f"pass@k needs 0 < k <= n and 0 <= c <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: chance that all of k runs pass (reliability), from c passes in n runs."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ConfigError(f"pass^k needs 0 < k <= n and 0 <= c <= n (got n={n}, c={c}, k={k})")
    return math.comb(c, k) / math.comb(n, k)
