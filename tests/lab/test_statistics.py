"""The lab's statistics, each checked against scipy (a test-only oracle) on planted data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is the oracle for these tests")

from claw_nb.errors import ConfigError
from claw_nb.lab import power, statistics
from claw_nb.lab.statistics import (
    bootstrap_interval,
    compare_variants,
    holm,
    leaderboard,
    mcnemar_exact,
    paired_comparison,
    pass_at_k,
    pass_hat_k,
    sign_flip_test,
    wilson_interval,
)

try:
    from claw_nb.lab.trials import TrialResult
except ImportError:  # the lab branch not merged yet: the same fields as plain data
    from types import SimpleNamespace as TrialResult


def trial(
    variant, task, repeat, reward, tokens=100, wall_s=1.0, steps=4, tool_errors=0, stop="done"
):
    return TrialResult(
        experiment="planted",
        variant=variant,
        task=task,
        repeat=repeat,
        reward=float(reward),
        passed=reward >= 1.0,
        stop_reason=stop,
        steps=steps,
        prompt_tokens=tokens,
        completion_tokens=tokens // 4,
        wall_s=wall_s,
        tool_errors=tool_errors,
        session_id=None,
        error=None,
        verifier_output="",
    )


def planted(variant, outcomes, **kw):
    """outcomes: list over tasks of lists over repeats."""
    return [
        trial(variant, f"t{i:02d}", j, r, **kw)
        for i, runs in enumerate(outcomes)
        for j, r in enumerate(runs)
    ]


# --- single proportions ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 12, 20, 50])
def test_wilson_interval_matches_scipy(n):
    for k in range(n + 1):
        for conf in (0.9, 0.95, 0.99):
            ci = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
            assert wilson_interval(k, n, conf) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ConfigError):
        wilson_interval(6, 5)


def test_bootstrap_interval_matches_scipy_percentile_over_task_means():
    rng = np.random.default_rng(7)
    by_task = {f"t{i}": list(rng.binomial(1, p, size=3)) for i, p in enumerate(rng.random(20))}
    mean, lo, hi = bootstrap_interval(by_task, resamples=20_000, seed=1)
    task_means = np.array([np.mean(v) for v in by_task.values()])
    ref = scipy_stats.bootstrap(
        (task_means,), np.mean, method="percentile", n_resamples=20_000, random_state=3
    )
    assert mean == pytest.approx(task_means.mean())
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.02)


def test_bootstrap_resamples_tasks_not_runs():
    # Ten tasks, each either always solved or never: repeats carry no extra information, so
    # 10 repeats must not narrow the interval compared with 1 run per task.
    one = {f"t{i}": [float(i < 5)] for i in range(10)}
    ten = {f"t{i}": [float(i < 5)] * 10 for i in range(10)}
    _, lo1, hi1 = bootstrap_interval(one, seed=2)
    _, lo10, hi10 = bootstrap_interval(ten, seed=2)
    assert (lo10, hi10) == pytest.approx((lo1, hi1))


@pytest.mark.parametrize("n,c", [(5, 0), (5, 2), (5, 5), (8, 3), (10, 7)])
def test_pass_at_k_and_pass_hat_k_match_enumeration(n, c):
    runs = [1] * c + [0] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(runs, k))
        at_least_one = sum(any(s) for s in subsets) / len(subsets)
        all_pass = sum(all(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(at_least_one)
        assert pass_hat_k(n, c, k) == pytest.approx(all_pass)


# --- paired tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("b", range(0, 13))
def test_mcnemar_exact_matches_scipy_binomtest(b):
    for c in range(0, 13):
        expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def _scipy_sign_flip(diffs, n_resamples):
    zeros = np.zeros(len(diffs))
    return scipy_stats.permutation_test(
        (zeros, np.asarray(diffs, dtype=float)),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=0,
    ).pvalue


def test_sign_flip_exact_matches_scipy_permutation_test():
    rng = np.random.default_rng(11)
    for n in (3, 6, 9, 12):
        diffs = np.round(rng.normal(0.15, 0.4, size=n), 2)
        p, exact = sign_flip_test(diffs)
        assert exact
        assert p == pytest.approx(_scipy_sign_flip(diffs, 2**n), rel=1e-9)


def test_sign_flip_monte_carlo_agrees_with_scipy():
    rng = np.random.default_rng(5)
    diffs = np.round(rng.normal(0.1, 0.5, size=24), 2)
    p, exact = sign_flip_test(diffs, resamples=100_000)
    assert not exact
    assert p == pytest.approx(_scipy_sign_flip(diffs, 100_000), abs=0.01)


def test_one_run_per_task_uses_mcnemar():
    a = {f"t{i}": [float(i < 8)] for i in range(20)}
    b = {f"t{i}": [float(i < 8 or i in (10, 12, 14, 16, 18))] for i in range(20)}
    b["t1"] = [0.0]
    result = paired_comparison(a, b)
    assert result.method == "exact McNemar"
    assert (result.wins, result.losses, result.ties) == (5, 1, 14)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(5, 6).pvalue)
    assert result.diff == pytest.approx(0.2)
    assert not result.small_sample


def test_paired_interval_matches_scipy_paired_bootstrap():
    rng = np.random.default_rng(3)
    skill = rng.random(25)
    a = {f"t{i}": list(rng.binomial(1, s, 4).astype(float)) for i, s in enumerate(skill)}
    b = {
        f"t{i}": list(rng.binomial(1, min(1, s + 0.2), 4).astype(float))
        for i, s in enumerate(skill)
    }
    result = paired_comparison(a, b, resamples=20_000, seed=4)
    am = np.array([np.mean(a[t]) for t in a])
    bm = np.array([np.mean(b[t]) for t in a])
    ref = scipy_stats.bootstrap(
        (am, bm),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=20_000,
        random_state=9,
    )
    assert result.method.startswith("sign-flip permutation")
    assert result.diff == pytest.approx(np.mean(bm - am))
    assert result.lo == pytest.approx(ref.confidence_interval.low, abs=0.015)
    assert result.hi == pytest.approx(ref.confidence_interval.high, abs=0.015)
    assert result.p_value == pytest.approx(_scipy_sign_flip(bm - am, 100_000), abs=0.01)


def test_small_samples_are_flagged():
    a = {f"t{i}": [0.0] for i in range(6)}
    b = {f"t{i}": [1.0] for i in range(6)}
    result = paired_comparison(a, b)
    assert result.small_sample
    assert "6 tasks" in result.note
    few_discordant = paired_comparison(
        {f"t{i}": [0.0] for i in range(30)}, {f"t{i}": [float(i < 3)] for i in range(30)}
    )
    assert few_discordant.small_sample and "differ on 3 tasks" in few_discordant.note


def test_comparison_pairs_only_common_tasks():
    a = {"x": [1.0], "y": [0.0], "only_a": [1.0]}
    b = {"x": [1.0], "y": [1.0], "only_b": [0.0]}
    assert paired_comparison(a, b).n_tasks == 2


def test_holm_matches_its_definition():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    rng = np.random.default_rng(2)
    for _ in range(50):
        ps = list(rng.random(5) ** 3)
        adjusted = holm(ps)
        for alpha in (0.01, 0.05, 0.1):
            # Holm's step-down: reject sorted p_(i) while p_(i) <= alpha / (m - i).
            rejected, order = set(), np.argsort(ps)
            for rank, i in enumerate(order):
                if ps[i] > alpha / (len(ps) - rank):
                    break
                rejected.add(int(i))
            assert {i for i, p in enumerate(adjusted) if p <= alpha} == rejected


# --- tables over trial results ---------------------------------------------------------------


def test_leaderboard_on_planted_results():
    base = [[1]] * 8 + [[0]] * 12
    better = [[1]] * 8 + [[1]] * 7 + [[0]] * 5
    worse = [[0]] * 2 + [[1]] * 6 + [[0]] * 12
    results = (
        planted("base", base)
        + planted("better", better, tokens=80)
        + planted("worse", worse, tool_errors=1)
    )
    board = leaderboard(results, baseline="base").set_index("variant")
    assert list(board.index) == ["better", "base", "worse"]
    ci = scipy_stats.binomtest(15, 20).proportion_ci(method="wilson")
    assert board.loc["better", "pass_rate"] == pytest.approx(0.75)
    assert (board.loc["better", "lo"], board.loc["better", "hi"]) == pytest.approx(
        (ci.low, ci.high)
    )
    p_better = scipy_stats.binomtest(7, 7).pvalue
    p_worse = scipy_stats.binomtest(0, 2).pvalue
    assert board.loc["better", "p_value"] == pytest.approx(p_better)
    assert board.loc["better", "p_holm"] == pytest.approx(min(1, 2 * p_better))
    assert board.loc["worse", "p_holm"] == pytest.approx(max(2 * p_better, p_worse))
    assert (board.loc["better", ["wins", "losses", "ties"]] == [7, 0, 13]).all()
    assert board.loc["better", "tokens_per_solved"] == pytest.approx(20 * 100 / 15)
    assert board.loc["worse", "tool_error_rate"] == pytest.approx(0.25)
    assert board.loc["worse", "small_sample"]  # differs from the baseline on 2 tasks only
    assert bool(board.loc["base", "baseline"])


def test_the_leaderboard_counts_trials_the_loop_guard_stopped():
    from claw_nb.cli.lab import format_leaderboard

    looping = [trial("loops", f"t{i}", 0, 0, stop="stuck") for i in range(3)]
    rows = planted("calm", [[1], [0], [1]]) + looping
    board = leaderboard(rows).set_index("variant")
    assert board.loc["loops", "stuck"] == 3 and board.loc["calm", "stuck"] == 0
    assert "stuck" in format_leaderboard(leaderboard(rows))
    assert "stuck" not in format_leaderboard(leaderboard(planted("calm", [[1], [0]])))


def test_leaderboard_with_repeats_reports_pass_at_k():
    runs = [[1, 1, 0], [0, 0, 0], [1, 0, 0], [1, 1, 1]]
    board = leaderboard(planted("a", runs) + planted("b", [[1, 1, 1]] * 4)).set_index("variant")
    expected_at_3 = np.mean([pass_at_k(3, sum(r), 3) for r in runs])
    assert board.loc["a", "k"] == 3
    assert board.loc["a", "pass@k"] == pytest.approx(expected_at_3)
    assert board.loc["a", "pass^k"] == pytest.approx(0.25)
    assert board.loc["a", "interval"] == "bootstrap over tasks"
    assert board.loc["b", "test"].startswith("sign-flip")


def test_a_suite_solved_every_time_still_gets_an_honest_interval():
    board = leaderboard(planted("a", [[1, 1, 1]] * 6)).set_index("variant")
    ci = scipy_stats.binomtest(6, 6).proportion_ci(method="wilson")
    assert board.loc["a", "interval"] == "Wilson over tasks"
    assert (board.loc["a", "lo"], board.loc["a", "hi"]) == pytest.approx((ci.low, ci.high))


def test_compare_variants_agrees_with_scipy():
    rng = np.random.default_rng(8)
    a_runs = [list(rng.binomial(1, 0.4, 2)) for _ in range(14)]
    b_runs = [list(rng.binomial(1, 0.6, 2)) for _ in range(14)]
    frame = compare_variants(planted("a", a_runs) + planted("b", b_runs), "a", "b")
    diffs = np.array([np.mean(b) - np.mean(a) for a, b in zip(a_runs, b_runs)])
    row = frame.iloc[0]
    assert row["diff"] == pytest.approx(diffs.mean())
    assert row["p_value"] == pytest.approx(_scipy_sign_flip(diffs, 2**14), rel=1e-9)
    assert len(frame.attrs["per_task"]) == 14


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ConfigError, match="known"):
        compare_variants(planted("a", [[1]]), "a", "nope")


# --- power planner ---------------------------------------------------------------------------


def test_minimum_detectable_difference_formula():
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    expected = z * math.sqrt(2 * 0.4 * 0.25) / math.sqrt(20)
    assert power.minimum_detectable_difference(20) == pytest.approx(expected)
    assert power.minimum_detectable_difference(20) == pytest.approx(0.28, abs=0.005)
    assert power.minimum_detectable_difference(80) == pytest.approx(expected / 2)
    assert power.minimum_detectable_difference(20, repeats=4) == pytest.approx(expected / 2)
    assert power.tasks_needed(expected) == 20


def test_difference_sd_matches_a_simulated_suite():
    # Tasks with Beta-distributed pass chances whose intra-task correlation is rho; two equal
    # variants: the spread of per-task differences must be what the planner assumes.
    rho, p, repeats = 0.6, 0.5, 3
    total = 1 / rho - 1
    rng = np.random.default_rng(0)
    chance = rng.beta(p * total, (1 - p) * total, size=200_000)
    a = rng.binomial(repeats, chance) / repeats
    b = rng.binomial(repeats, chance) / repeats
    assert np.std(b - a) == pytest.approx(power.difference_sd(repeats, p, rho), rel=0.02)
    runs = {f"t{i}": list(rng.binomial(1, chance[i], 5)) for i in range(2000)}
    assert power.task_correlation(runs) == pytest.approx(rho, abs=0.05)


def test_power_planner_rejects_nonsense():
    with pytest.raises(ConfigError):
        power.minimum_detectable_difference(0)
    with pytest.raises(ConfigError):
        power.minimum_detectable_difference(20, base_rate=1.0)


def test_library_does_not_import_scipy():
    import ast
    import inspect

    for module in (statistics, power):
        tree = ast.parse(inspect.getsource(module))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(str(name).startswith("scipy") for name in names)
