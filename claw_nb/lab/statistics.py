"""Honest statistics for small task suites: intervals, paired tests and a leaderboard.

Small suites are noisy, so every number carries its interval and every comparison says how
much evidence stands behind it. Pure numpy and the standard library (scipy checks these
functions in the tests but is not needed at run time).

Conventions: a variant's score is the mean over tasks of each task's mean reward (every task
weighs the same, whatever its number of repeats). In a comparison `a` is the baseline and `b`
the candidate: a positive difference means `b` solves more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from claw_nb.errors import ConfigError

if TYPE_CHECKING:
    import pandas

SMALL_TASKS = 10
"""Fewer paired tasks than this and a comparison is flagged as a small sample."""
SMALL_DISCORDANT = 6
"""Fewer tasks where the two variants differ than this and a comparison is flagged too."""
EXACT_SIGN_FLIPS = 2**16
"""Up to this many sign patterns the permutation test enumerates them all (an exact p-value)."""


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


def _task_means(rewards_by_task: Mapping[str, Sequence[float]]) -> np.ndarray:
    means = [float(np.mean(r)) for r in rewards_by_task.values() if len(r)]
    return np.asarray(means, dtype=float)


def _percentile_bootstrap(
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
    means = _task_means(rewards_by_task)
    if len(means) == 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = _percentile_bootstrap(means, confidence, resamples, seed)
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


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test: a binomial(b + c, 1/2) test on the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def sign_flip_test(
    differences: Sequence[float], resamples: int = 100_000, seed: int = 0
) -> tuple[float, bool]:
    """(p, exact): two-sided paired permutation test of a zero mean difference.

    Under no effect each task's difference is as likely to have either sign; the p-value is the
    share of sign patterns whose total is at least as extreme (both tails, doubled, capped at
    1, as scipy's `permutation_test` reports it). Enumerated exactly when there are few tasks.
    """
    d = np.asarray([x for x in differences if x != 0], dtype=float)
    if len(d) == 0:
        return (1.0, True)
    observed = d.sum()
    slack = abs(observed) * np.finfo(float).eps * 100
    exact = 2 ** len(d) <= EXACT_SIGN_FLIPS
    if exact:
        patterns = ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1) * 2 - 1
        null = patterns @ d
        less = np.count_nonzero(null <= observed + slack) / len(null)
        greater = np.count_nonzero(null >= observed - slack) / len(null)
    else:
        rng = np.random.default_rng(seed)
        null = rng.choice([-1.0, 1.0], size=(resamples, len(d))) @ d
        less = (np.count_nonzero(null <= observed + slack) + 1) / (resamples + 1)
        greater = (np.count_nonzero(null >= observed - slack) + 1) / (resamples + 1)
    return (float(min(1.0, 2 * min(less, greater))), exact)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given), for many variants vs one baseline."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class PairedComparison:
    """Candidate `b` against baseline `a` on the tasks both ran; diff = b - a."""

    diff: float
    lo: float
    hi: float
    p_value: float
    method: str
    wins: int
    losses: int
    ties: int
    n_tasks: int
    small_sample: bool
    note: str = ""

    def summary(self) -> str:
        sign = "+" if self.diff >= 0 else ""
        text = (
            f"{sign}{self.diff * 100:.1f} points [{self.lo * 100:.1f}, {self.hi * 100:.1f}], "
            f"p={self.p_value:.3g} ({self.method}); {self.wins} wins / {self.losses} losses / "
            f"{self.ties} ties on {self.n_tasks} tasks"
        )
        return f"{text}; {self.note}" if self.note else text


def _is_binary(values: Iterable[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def paired_comparison(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two variants task by task (paired): difference, interval, p-value, W/L/T.

    One 0/1 run per task: exact McNemar. Repeats or partial credit: a sign-flip permutation test
    on the per-task mean differences. The interval is a paired bootstrap over tasks either way.
    """
    tasks = [t for t in a if t in b and len(a[t]) and len(b[t])]
    if not tasks:
        return PairedComparison(
            math.nan,
            math.nan,
            math.nan,
            1.0,
            "none",
            0,
            0,
            0,
            0,
            True,
            "no task was run by both variants",
        )
    diffs = np.asarray([np.mean(b[t]) - np.mean(a[t]) for t in tasks], dtype=float)
    wins = int(np.count_nonzero(diffs > 0))
    losses = int(np.count_nonzero(diffs < 0))
    ties = len(tasks) - wins - losses
    one_run = all(len(a[t]) == 1 and len(b[t]) == 1 for t in tasks)
    binary = _is_binary(x for t in tasks for x in (*a[t], *b[t]))
    if one_run and binary:
        p_value, method = mcnemar_exact(losses, wins), "exact McNemar"
    else:
        p_value, exact = sign_flip_test(diffs, resamples=max(resamples, 10_000), seed=seed)
        method = "sign-flip permutation" + ("" if exact else " (Monte Carlo)")
    lo, hi = _percentile_bootstrap(diffs, confidence, resamples, seed)
    notes = []
    if len(tasks) < SMALL_TASKS:
        notes.append(f"small sample: {len(tasks)} tasks (< {SMALL_TASKS})")
    if wins + losses < SMALL_DISCORDANT:
        notes.append(
            f"small sample: the variants differ on {wins + losses} tasks (< {SMALL_DISCORDANT})"
        )
    return PairedComparison(
        diff=float(diffs.mean()),
        lo=lo,
        hi=hi,
        p_value=p_value,
        method=method,
        wins=wins,
        losses=losses,
        ties=ties,
        n_tasks=len(tasks),
        small_sample=bool(notes),
        note="; ".join(notes),
    )


# --- tables over trial results ---------------------------------------------------------------


def _rows(results: Any) -> list[Any]:
    """Trial results as objects with attributes; a DataFrame of them is accepted too."""
    if hasattr(results, "itertuples"):
        return list(results.itertuples(index=False))
    return list(results)


def variants_in(results: Any) -> list[str]:
    """Variant names in order of first appearance."""
    return list(dict.fromkeys(r.variant for r in _rows(results)))


def rewards_by_task(results: Any, variant: str) -> dict[str, list[float]]:
    """task -> rewards of its repeats (in repeat order) for one variant."""
    rows = sorted((r for r in _rows(results) if r.variant == variant), key=lambda r: r.repeat)
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r.task, []).append(float(r.reward))
    return out


def _common_k(rows: list[Any]) -> int:
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r.variant, r.task)] = counts.get((r.variant, r.task), 0) + 1
    return min(counts.values()) if counts else 0


def variant_summary(
    results: Any, variant: str, *, k: int | None = None, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """One leaderboard row: pass rate with interval, pass@k / pass^k, cost per solved task."""
    rows = [r for r in _rows(results) if r.variant == variant]
    if not rows:
        raise ConfigError(f"no results for variant '{variant}'; known: {variants_in(results)}")
    by_task = rewards_by_task(rows, variant)
    repeats = max(len(v) for v in by_task.values())
    rewards = [float(r.reward) for r in rows]
    if repeats == 1 and _is_binary(rewards):
        successes = int(sum(rewards))
        mean = successes / len(rewards)
        lo, hi = wilson_interval(successes, len(rewards), confidence)
        interval = "Wilson"
    else:
        mean, lo, hi = bootstrap_interval(by_task, confidence, seed=seed)
        interval = "bootstrap over tasks"
        if lo == hi and mean in (0.0, 1.0):
            # Every task scored the same: a bootstrap cannot see spread that did not happen.
            lo, hi = wilson_interval(round(mean * len(by_task)), len(by_task), confidence)
            interval = "Wilson over tasks"
    solved = sum(1 for r in rows if r.passed)
    tokens = sum(int(r.prompt_tokens) + int(r.completion_tokens) for r in rows)
    seconds = sum(float(r.wall_s) for r in rows)
    steps = sum(int(r.steps) for r in rows)
    row: dict[str, Any] = {
        "variant": variant,
        "tasks": len(by_task),
        "trials": len(rows),
        "pass_rate": mean,
        "lo": lo,
        "hi": hi,
        "interval": interval,
        "solved": solved,
        "tokens_per_solved": tokens / solved if solved else math.nan,
        "seconds_per_solved": seconds / solved if solved else math.nan,
        "tool_error_rate": sum(int(r.tool_errors) for r in rows) / steps if steps else 0.0,
        # trials whose agent changed what decides its verdict (claw_nb.lab.tamper); their
        # rewards are counted as measured here, and flagged so a reader can judge them
        "tampered": sum(1 for r in rows if getattr(r, "tamper", ())),
    }
    if k and k > 1:
        passes: dict[str, list[bool]] = {}
        for r in rows:
            passes.setdefault(r.task, []).append(bool(r.passed))
        row["k"] = k
        row["pass@k"] = float(np.mean([pass_at_k(len(p), sum(p), k) for p in passes.values()]))
        row["pass^k"] = float(np.mean([pass_hat_k(len(p), sum(p), k) for p in passes.values()]))
    return row


def leaderboard(
    results: Any, baseline: str | None = None, *, confidence: float = 0.95, seed: int = 0
) -> pandas.DataFrame:
    """Variants ranked by pass rate, each with its interval and its paired test vs the baseline.

    The baseline defaults to the first variant in the results. p-values against it are
    Holm-corrected across all challengers (`p_holm`); `small_sample` flags thin evidence.
    """
    import pandas as pd

    rows = _rows(results)
    names = variants_in(rows)
    if not names:
        return pd.DataFrame()
    baseline = baseline or names[0]
    if baseline not in names:
        raise ConfigError(f"baseline '{baseline}' has no results; known variants: {names}")
    k = _common_k(rows)
    table = [variant_summary(rows, v, k=k, confidence=confidence, seed=seed) for v in names]
    base = rewards_by_task(rows, baseline)
    challengers = [v for v in names if v != baseline]
    tests = {
        v: paired_comparison(base, rewards_by_task(rows, v), confidence=confidence, seed=seed)
        for v in challengers
    }
    adjusted = dict(zip(challengers, holm([tests[v].p_value for v in challengers])))
    for row in table:
        test = tests.get(row["variant"])
        row["baseline"] = row["variant"] == baseline
        for field in ("diff", "lo", "hi", "p_value"):
            key = field if field in ("diff", "p_value") else f"diff_{field}"
            row[key] = getattr(test, field) if test else math.nan
        row["p_holm"] = adjusted.get(row["variant"], math.nan)
        row["wins"] = test.wins if test else 0
        row["losses"] = test.losses if test else 0
        row["ties"] = test.ties if test else 0
        row["test"] = test.method if test else ""
        row["small_sample"] = test.small_sample if test else len(base) < SMALL_TASKS
    frame = pd.DataFrame(table).sort_values("pass_rate", ascending=False, kind="stable")
    return frame.reset_index(drop=True)


def per_task_table(results: Any) -> pandas.DataFrame:
    """Variant x task matrix of mean rewards (the data behind a heatmap)."""
    import pandas as pd

    rows = _rows(results)
    frame = pd.DataFrame(
        {"variant": r.variant, "task": r.task, "reward": float(r.reward)} for r in rows
    )
    if frame.empty:
        return frame
    return frame.pivot_table(index="task", columns="variant", values="reward", aggfunc="mean")


def compare_variants(
    results: Any, a: str, b: str, *, confidence: float = 0.95, seed: int = 0
) -> pandas.DataFrame:
    """One-row DataFrame: `b` against baseline `a`, paired on tasks; per-task rows in attrs."""
    import pandas as pd

    rows = _rows(results)
    for name in (a, b):
        if name not in variants_in(rows):
            raise ConfigError(f"no results for variant '{name}'; known: {variants_in(rows)}")
    ra, rb = rewards_by_task(rows, a), rewards_by_task(rows, b)
    test = paired_comparison(ra, rb, confidence=confidence, seed=seed)
    frame = pd.DataFrame(
        [
            {
                "baseline": a,
                "candidate": b,
                "baseline_rate": float(_task_means(ra).mean()),
                "candidate_rate": float(_task_means(rb).mean()),
                "diff": test.diff,
                "diff_lo": test.lo,
                "diff_hi": test.hi,
                "p_value": test.p_value,
                "test": test.method,
                "wins": test.wins,
                "losses": test.losses,
                "ties": test.ties,
                "tasks": test.n_tasks,
                "small_sample": test.small_sample,
                "note": test.note,
            }
        ]
    )
    frame.attrs["per_task"] = pd.DataFrame(
        {
            "task": t,
            a: float(np.mean(ra[t])),
            b: float(np.mean(rb[t])),
            "diff": float(np.mean(rb[t]) - np.mean(ra[t])),
        }
        for t in ra
        if t in rb
    )
    frame.attrs["comparison"] = test
    return frame
