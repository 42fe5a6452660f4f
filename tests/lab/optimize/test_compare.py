"""compare and sweep end to end: the real lab runner and DuckDB log, the scripted server as the
model (its agent solves a task only when the prompt teaches the habit), statistics vs scipy."""

from __future__ import annotations

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is the oracle for the statistics")

from claw_nb.lab.optimize import compare, sweep, sweep_variants
from claw_nb.lab.optimize.sweep_grid import with_fragments
from claw_nb.lab.variants import Variant
from claw_nb.prompts import template_text
from claw_nb.testing import ScriptedServer
from claw_nb.testing.lab_demo import HABIT_FORMAT, HABIT_WRITE, demo_tasks, scripted_agent

pytestmark = pytest.mark.slow


@pytest.fixture
def run_options(tmp_path):
    with ScriptedServer(default=scripted_agent) as server:
        yield {
            "model": "openai/scripted",
            "api_base": server.url,
            "api_key": "sk-test",
            # The scripted agent only writes files; the sandbox is the lab's to test.
            "unsandboxed": True,
            "db_path": tmp_path / "lab.duckdb",
        }


def test_compare_ranks_variants_with_statistics_that_agree_with_scipy(run_options):
    tasks = demo_tasks(6)  # 2 easy, 2 medium, 2 hard
    template = template_text("default")
    variants = [
        Variant("base"),
        Variant("write", system_prompt=with_fragments(template, [HABIT_WRITE])),
        Variant("both", system_prompt=with_fragments(template, [HABIT_WRITE, HABIT_FORMAT])),
    ]
    cmp = compare(tasks, variants, repeats=2, experiment="abc", **run_options)
    results = cmp.results()
    assert len(results) == 6 * 3 * 2
    board = cmp.leaderboard().set_index("variant")
    assert board.loc["base", "pass_rate"] == 0.0
    assert board.loc["write", "pass_rate"] == pytest.approx(4 / 6)
    assert board.loc["both", "pass_rate"] == 1.0
    assert list(cmp.leaderboard()["variant"]) == ["both", "write", "base"]
    assert (board.loc["both", ["wins", "losses", "ties"]] == [6, 0, 0]).all()

    # The p-values are sign-flip tests on per-task mean differences: scipy must agree.
    def scipy_p(name):
        diffs = []
        for task in tasks:
            b = [r.reward for r in results if r.variant == name and r.task == task.name]
            a = [r.reward for r in results if r.variant == "base" and r.task == task.name]
            diffs.append(np.mean(b) - np.mean(a))
        return scipy_stats.permutation_test(
            (np.zeros(6), np.array(diffs)),
            lambda x, y, axis: np.mean(y - x, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=2**6,
        ).pvalue

    p_both, p_write = scipy_p("both"), scipy_p("write")
    assert board.loc["both", "p_value"] == pytest.approx(p_both)
    assert board.loc["write", "p_value"] == pytest.approx(p_write)
    assert p_both < p_write  # so Holm doubles the smaller one and keeps the larger
    assert board.loc["both", "p_holm"] == pytest.approx(2 * p_both)
    assert board.loc["write", "p_holm"] == pytest.approx(max(2 * p_both, p_write))
    assert board.loc["both", "small_sample"]  # six tasks: flagged, whatever the p-value
    solved = [r for r in results if r.variant == "write" and r.passed]
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in results if r.variant == "write")
    assert board.loc["write", "tokens_per_solved"] == pytest.approx(tokens / len(solved))
    assert "Smallest difference this suite can detect" in str(cmp)
    assert cmp.per_task().loc["demo-cedar", "write"] == 0.0


def test_adopting_the_best_variant_writes_its_prompt(run_options, tmp_path):
    tasks = demo_tasks(3)
    good = Variant(
        "good",
        system_prompt=with_fragments(template_text("default"), [HABIT_WRITE]),
        temperature=0.2,
    )
    cmp = compare(tasks, [Variant("base"), good], experiment="adopt", **run_options)
    assert cmp.best().name == "good"
    settings = cmp.adopt(workspace=tmp_path)
    assert HABIT_WRITE in (tmp_path / ".claw/prompts/good.md").read_text()
    assert 'prompt_name = ".claw/prompts/good.md"' in settings.read_text()
    assert "temperature = 0.2" in settings.read_text()


def test_sweep_builds_the_grid_and_compares_it_to_the_base(run_options):
    base = Variant("base")
    names = [
        v.name
        for v in sweep_variants(
            base, {"max_steps": [3]}, {"write": HABIT_WRITE, "format": HABIT_FORMAT}
        )
    ]
    assert names == [
        "base",
        "steps=3",
        "steps=3 +format",
        "steps=3 +write",
        "steps=3 +write +format",
    ]
    cmp = sweep(
        demo_tasks(3),
        base,
        {"max_steps": [3]},
        fragments={"write": HABIT_WRITE, "format": HABIT_FORMAT},
        experiment="grid",
        **run_options,
    )
    board = cmp.leaderboard().set_index("variant")
    assert board.loc["steps=3 +write +format", "pass_rate"] == 1.0
    assert board.loc["steps=3 +write", "pass_rate"] == pytest.approx(2 / 3)
    assert board.loc["steps=3 +format", "pass_rate"] == 0.0
