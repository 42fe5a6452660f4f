"""The optimizers' command as a unit: each input is checked once, before anything runs, and a
compare goes straight from its job to the lab runner."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab import optimizer_store
from claw_nb.lab.experiment import Experiment
from claw_nb.lab.optimize import command
from claw_nb.lab.optimize.command import ReflectJob, TrialsJob
from claw_nb.lab.optimize.command_options import add_optimize_parser
from claw_nb.lab.optimize.command_words import parse_fragment, parse_values
from claw_nb.stop import StopToken
from claw_nb.testing.lab_demo import demo_task_specs


@pytest.fixture
def world(tmp_path: Path, monkeypatch) -> SimpleNamespace:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAW_LAB_SLOTS", raising=False)
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(demo_task_specs(6)))
    config = SimpleNamespace(
        resolved_db_path=tmp_path / "lab.duckdb",
        model="openai/scripted",
        api_base="http://127.0.0.1:9",
        api_key="sk-test",
    )
    return SimpleNamespace(tasks=str(tasks), config=config, tmp=tmp_path)


def words(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_optimize_parser(parser.add_subparsers(dest="lab_command"), argparse.ArgumentParser)
    return parser.parse_args(["optimize", *argv])


def prepare(world, *argv: str):
    return command.prepare(words(*argv), world.config)


def test_compare_is_planned_with_its_baseline_and_nothing_runs(world):
    job = prepare(world, "compare", world.tasks, "--variant", "a", "--variant", "b", "--name", "n")
    assert isinstance(job, TrialsJob)
    assert (job.kind, job.name, job.baseline, job.repeats) == ("compare", "n", "a", 1)
    assert [v.name for v in job.variants] == ["a", "b"]
    assert job.plan.startswith("compare 'n': 2 variants x 6 tasks x 1 repeat(s) = 12 trials")
    assert "no trials measured in the log yet" in job.plan
    assert not job.resumed and not world.config.resolved_db_path.exists()


def test_the_baseline_must_be_one_of_the_variants(world):
    with pytest.raises(ConfigError, match="baseline 'c' is not one of the variants"):
        prepare(
            world, "compare", world.tasks, "--variant", "a", "--variant", "b", "--baseline", "c"
        )


def test_compare_needs_two_distinct_variants(world):
    with pytest.raises(ConfigError, match="two or more --variant"):
        prepare(world, "compare", world.tasks, "--variant", "a")
    with pytest.raises(ConfigError, match="variant names must be unique"):
        prepare(world, "compare", world.tasks, "--variant", "a", "--variant", "a")


def test_repeats_below_one_are_refused(world):
    with pytest.raises(ConfigError, match="--repeats must be at least 1"):
        prepare(world, "compare", world.tasks, "--variant", "a", "--variant", "b", "--repeats", "0")


def test_a_sweep_over_its_cap_is_refused_with_the_count(world):
    argv = ["sweep", world.tasks, "--set", "temperature=0,0.5,1", "--fragment", "x=be brief"]
    job = prepare(world, *argv)
    assert (
        job.baseline == "base" and len(job.variants) == 7
    )  # base, then 3 values x fragment off/on
    with pytest.raises(ConfigError, match=r"the sweep has 7 variants \(cap 6\)"):
        prepare(world, *argv, "--max-variants", "6")


def test_a_sweep_needs_something_to_sweep(world):
    with pytest.raises(ConfigError, match="sweep needs a --set"):
        prepare(world, "sweep", world.tasks)


def test_reflect_is_planned_on_its_split(world):
    job = prepare(world, "reflect", world.tasks, "--budget", "30", "--name", "r")
    assert isinstance(job, ReflectJob)
    assert job.components == ("system_prompt",)
    assert len(job.split.train) + len(job.split.val) + len(job.split.held_out) == 6
    assert job.plan.startswith("reflect 'r': ")
    assert "reflection model openai/scripted" in job.plan


def test_reflect_budget_below_one_round_is_refused(world):
    with pytest.raises(ConfigError, match="--budget 3 is below one round of the search"):
        prepare(world, "reflect", world.tasks, "--budget", "3")


def test_a_split_without_validation_tasks_is_refused(world):
    names = [s["name"] for s in demo_task_specs(6)]
    split = world.tmp / "split.json"
    split.write_text(json.dumps({"train": names[:4], "val": [], "held_out": names[4:]}))
    with pytest.raises(ConfigError, match="reflect needs train and validation tasks"):
        prepare(world, "reflect", world.tasks, "--split", str(split))


@pytest.mark.parametrize(
    "content, message",
    [(None, "does not exist"), ("{", "--split"), ('{"train": []}', "needs lists val, held_out")],
)
def test_a_bad_split_file_gets_one_line(world, content, message):
    split = world.tmp / "split.json"
    if content is not None:
        split.write_text(content)
    with pytest.raises(ConfigError, match=message):
        prepare(world, "reflect", world.tasks, "--split", str(split))


def test_a_run_name_of_another_kind_is_refused(world):
    optimizer_store.start_run(world.config.resolved_db_path, "taken", "reflect", {})
    with pytest.raises(ConfigError, match="run 'taken' is a reflect run"):
        prepare(
            world, "compare", world.tasks, "--variant", "a", "--variant", "b", "--name", "taken"
        )


def test_set_and_fragment_words():
    assert parse_values("temperature=0,0.7") == ("temperature", [0, 0.7])
    assert parse_values("max-steps=3,x") == ("max_steps", [3, "x"])
    assert parse_fragment("terse=Be brief.") == ("terse", "Be brief.")
    for bad in ("temperature", "=1", "t="):
        with pytest.raises(ConfigError, match="--set"):
            parse_values(bad)
    with pytest.raises(ConfigError, match="file .* does not exist"):
        parse_fragment("x=@/nonexistent/fragment.txt")


def test_a_compare_job_hands_its_inputs_to_the_runner_and_logs_the_run(world, monkeypatch):
    calls = []

    def run_experiment(tasks, variants, **kwargs):
        calls.append((tasks, variants, kwargs))
        return Experiment(kwargs["experiment"], kwargs["db_path"], stopped=True)

    monkeypatch.setattr("claw_nb.lab.runner.run_experiment", run_experiment)
    job = prepare(world, "compare", world.tasks, "--variant", "a", "--variant", "b", "--name", "n")
    token = StopToken()
    outcome = job.run(progress=None, stop=token)
    [(tasks, variants, kwargs)] = calls
    assert kwargs["stop"] is token  # the shell's token reaches the runner
    assert [v.name for v in variants] == ["a", "b"] and len(tasks) == 6
    assert kwargs["repeats"] == 1 and kwargs["model"] == "openai/scripted"
    assert kwargs["executor"].kind == "local"
    assert outcome.stopped and outcome.result.baseline == "a"
    run = optimizer_store.logged_run(world.config.resolved_db_path, "n")
    assert run["status"] == "stopped" and run["config"]["variants"] == ["a", "b"]


def test_the_module_lists_the_hops_from_the_shell_to_a_trial():
    hops = [line for line in command.__doc__.splitlines() if line[:1].isdigit()]
    assert len(hops) <= 5 and "run_trial" in hops[-1]
    files = {word.split(".")[0].strip("`") for hop in hops for word in hop.split() if "/" in word}
    assert len(files - {"lab/trials"}) <= 4
