"""Tests between two variants paired on tasks: exact McNemar, a sign-flip permutation test,
Holm's correction, and the comparison that picks between them and flags thin evidence.

In a comparison `a` is the baseline and `b` the candidate: a positive difference means `b`
solves more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import numpy as np

from claw_nb.lab.statistics.intervals import percentile_bootstrap
from claw_nb.records import record

SMALL_TASKS = 10
"""Fewer paired tasks than this and a comparison is flagged as a small sample."""
SMALL_DISCORDANT = 6
"""Fewer tasks where the two variants differ than this and a comparison is flagged too."""
EXACT_SIGN_FLIPS = 2**16
"""Up to this many sign patterns the permutation test enumerates them all (an exact p-value)."""


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


@record(frozen=True)
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


def is_binary(values: Iterable[float]) -> bool:
    """Whether every reward is 0 or 1 (pass/fail), which the exact tests need."""
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
    binary = is_binary(x for t in tasks for x in (*a[t], *b[t]))
    if one_run and binary:
        p_value, method = mcnemar_exact(losses, wins), "exact McNemar"
    else:
        p_value, exact = sign_flip_test(diffs, resamples=max(resamples, 10_000), seed=seed)
        method = "sign-flip permutation" + ("" if exact else " (Monte Carlo)")
    lo, hi = percentile_bootstrap(diffs, confidence, resamples, seed)
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
