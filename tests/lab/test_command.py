"""What the lab's commands share: task and variant words, and `lab run` wired once."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab.command import parse_variant, plan_text, prepare_run, run_lab, select_tasks
from claw_nb.testing.lab_demo import demo_task_specs


@pytest.fixture
def tasks_file(tmp_path: Path) -> str:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(demo_task_specs(3)))
    return str(path)


def test_variant_words(tmp_path: Path):
    assert parse_variant("base").name == "base"
    toml = tmp_path / "warm.toml"
    toml.write_text("temperature = 0.7\n")
    assert parse_variant(f"warm={toml}").temperature == 0.7
    with pytest.raises(ConfigError, match="give NAME=FILE.toml or NAME"):
        parse_variant("=x.toml")


def test_only_picks_known_tasks(tasks_file: str):
    assert [t.name for t in select_tasks(tasks_file, ["demo-birch"])] == ["demo-birch"]
    with pytest.raises(ConfigError, match="--only names unknown task"):
        select_tasks(tasks_file, ["nope"])


def test_an_empty_suite_is_refused(tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(ConfigError, match="no tasks in"):
        select_tasks(str(empty))


def _words(tasks: str, **over) -> SimpleNamespace:
    words = dict(
        tasks=tasks,
        variant=[],
        only=[],
        repeats=2,
        experiment="e",
        ray=None,
        slots=1,
        unsandboxed=True,
    )
    return SimpleNamespace(**(words | over))


def test_lab_run_hands_the_words_to_the_runner(tasks_file: str, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "claw_nb.lab.runner.run_experiment",
        lambda tasks, variants, **kw: calls.append((tasks, variants, kw)) or "experiment",
    )
    made = []
    result = run_lab(_words(tasks_file), lambda: made.append(1) or "view", db_path="db", model="m")
    [(tasks, variants, kw)] = calls
    assert result == "experiment" and made == [1]
    assert len(tasks) == 3 and [v.name for v in variants] == ["default"]
    assert (kw["repeats"], kw["experiment"], kw["progress"], kw["db_path"]) == (
        2,
        "e",
        "view",
        Path("db"),
    )
    assert kw["model"] == "m" and kw["unsandboxed"] and kw["executor"].kind == "local"


def test_bad_words_fail_before_the_display_is_made(tasks_file: str):
    made = []
    with pytest.raises(ConfigError):
        run_lab(_words(tasks_file, only=["nope"]), lambda: made.append(1))
    assert made == []


def test_a_prepared_run_is_named_before_it_starts_and_refuses_twin_variants(tasks_file: str):
    job = prepare_run(_words(tasks_file, experiment=None, variant=["a", "b"]), db_path="db")
    assert job.name.startswith("exp-") and job.trials == 3 * 2 * 2
    with pytest.raises(ConfigError, match="variant names must be unique"):
        prepare_run(_words(tasks_file, variant=["a", "a"]))
    with pytest.raises(ConfigError, match="--repeats must be at least 1"):
        prepare_run(_words(tasks_file, repeats=0))


def test_plan_text_is_the_same_sentence_for_both_shells():
    assert plan_text(20, 2).startswith("20 tasks x 2 repeat(s): the smallest difference")
