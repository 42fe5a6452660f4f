"""Past optimizer runs read back from the log as units: a compare rebuilt from its rows, its
report, adopting its winner, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab import optimizer_store, store
from claw_nb.lab.optimize.reports import adopt_run, open_run, run_report, runs_table
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trials import TrialResult
from claw_nb.lab.variants import Variant
from claw_nb.testing.lab_demo import demo_task_specs

TASKS = load_tasks(demo_task_specs(3))


def _result(variant: str, task: str, reward: float) -> TrialResult:
    return TrialResult(
        "cmp", variant, task, 0, reward, reward == 1.0, "done", 2, 10, 5, 1.0, 0, None, None, ""
    )


def log_compare(db: Path, status: str = "done") -> None:
    variants = [Variant("a"), Variant("b", temperature=0.5)]
    names = [t.name for t in TASKS]
    config = {"variants": ["a", "b"], "baseline": "a", "repeats": 1, "tasks": names}
    optimizer_store.start_run(db, "cmp", "compare", config)
    store.register(db, "cmp", TASKS, variants, {})
    rows = [_result("a", n, 0.0) for n in names] + [_result("b", n, 1.0) for n in names]
    store.record_trials(db, [(r, b"") for r in rows])
    optimizer_store.finish_run(db, "cmp", status, "b")


def test_a_logged_compare_comes_back_with_its_variants_and_report(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    log_compare(db)
    past = open_run(db, "cmp")
    assert [v.name for v in past.variants] == ["a", "b"]
    assert past.variants[1].temperature == 0.5  # rebuilt from the variants table
    assert past.best().name == "b" and len(past.results()) == 6
    report = run_report(db, "cmp", per_task=True)
    assert report.startswith("compare run 'cmp' (done, started ")
    assert "best: b" in report and "demo-amber" in report
    assert list(runs_table(db)["run"]) == ["cmp"]


def test_adopting_a_compare_writes_its_best_variant(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    log_compare(db)
    path = adopt_run(db, "cmp", workspace=tmp_path)
    assert path == tmp_path / ".claw" / "prompts" / "b.toml" and path.exists()


def test_a_stopped_compare_is_not_adopted(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    log_compare(db, status="stopped")
    with pytest.raises(ConfigError, match="stopped before it finished: resume it first"):
        adopt_run(db, "cmp", workspace=tmp_path)


def test_an_unknown_run_names_the_known_ones(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    assert list(runs_table(db).columns) == list(store.RUN_COLUMNS)  # no file: no runs
    log_compare(db)
    with pytest.raises(ConfigError, match=r"no optimizer run 'nope' in .* \(runs: cmp\)"):
        run_report(db, "nope")
