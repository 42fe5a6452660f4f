"""Tables over trial results: the leaderboard, one variant's row, the variant x task matrix and a
two-variant comparison. A variant's score weighs every task the same (the mean of per-task
means), whatever its number of repeats."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from claw_nb.errors import ConfigError
from claw_nb.lab.statistics.intervals import (
    bootstrap_interval,
    pass_at_k,
    pass_hat_k,
    task_means,
    wilson_interval,
)
from claw_nb.lab.statistics.paired_tests import (
    SMALL_TASKS,
    holm,
    is_binary,
    paired_comparison,
)
from claw_nb.outcomes import StopReason

if TYPE_CHECKING:
    import pandas


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
    """One leaderboard row: pass rate with interval, pass@k / pass^k, cost per solved task
    (tokens, prefill tokens, wall and model seconds) and prompt-cache breaks per trial."""
    rows = [r for r in _rows(results) if r.variant == variant]
    if not rows:
        raise ConfigError(f"no results for variant '{variant}'; known: {variants_in(results)}")
    by_task = rewards_by_task(rows, variant)
    repeats = max(len(v) for v in by_task.values())
    rewards = [float(r.reward) for r in rows]
    if repeats == 1 and is_binary(rewards):
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
        # what the servers read (prefill, the cost local users feel) and the time in model
        # calls, per solved task; NaN when a trial predates these figures
        "prefill_per_solved": _per(_total(rows, "prefill_tokens"), solved),
        "model_s_per_solved": _per(_total(rows, "model_s"), solved),
        "cache_breaks_per_trial": _per(_total(rows, "cache_breaks"), len(rows)),
        "tool_error_rate": sum(int(r.tool_errors) for r in rows) / steps if steps else 0.0,
        # trials whose agent changed what decides its verdict (claw_nb.lab.tamper); their
        # rewards are counted as measured here, and flagged so a reader can judge them
        "tampered": sum(1 for r in rows if getattr(r, "tamper", ())),
        # trials the loop guard stopped (the model repeated a call after being told): how
        # often a variant's prompt leaves the model going round in circles
        "stuck": sum(1 for r in rows if r.stop_reason == StopReason.STUCK),
    }
    if k and k > 1:
        passes: dict[str, list[bool]] = {}
        for r in rows:
            passes.setdefault(r.task, []).append(bool(r.passed))
        row["k"] = k
        row["pass@k"] = float(np.mean([pass_at_k(len(p), sum(p), k) for p in passes.values()]))
        row["pass^k"] = float(np.mean([pass_hat_k(len(p), sum(p), k) for p in passes.values()]))
    return row


def _total(rows: list[Any], field: str) -> float:
    """The sum of a per-trial figure; NaN when any trial lacks it (recorded before it existed)."""
    values = [getattr(r, field, None) for r in rows]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return math.nan
    return float(sum(values))


def _per(total: float, count: int) -> float:
    return total / count if count else math.nan


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
                "baseline_rate": float(task_means(ra).mean()),
                "candidate_rate": float(task_means(rb).mean()),
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
