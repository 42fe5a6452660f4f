"""The gepa adapter as a unit: proposals pass the guards or are logged as rejected, trials are
scored (a tampered one as failed), and gepa's callbacks become steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_nb.lab import optimizer_store
from claw_nb.lab.optimize.adapter import LabAdapter, StepRecorder
from claw_nb.lab.optimize.candidates import candidate_id
from claw_nb.lab.optimize.guards import Guard
from claw_nb.lab.optimize.proposals import ReflectionReply
from claw_nb.lab.optimize.run_log import RunLog
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trials import TrialResult
from claw_nb.lab.variants import Variant
from claw_nb.stop import Stopped, StopToken
from claw_nb.testing.lab_demo import demo_task_specs

SEED = "You are a coding agent.\n$memory\n"
TASKS = load_tasks(demo_task_specs(2))


class Reflection:
    model = "scripted-reflection"

    def __init__(self, *replies: str):
        self.replies = list(replies)
        self.prompts: list[str] = []

    def ask(self, prompt: str, should_stop=None) -> ReflectionReply:
        self.prompts.append(prompt)
        return ReflectionReply(self.replies.pop(0), truncated=False, tokens=7)


def make_adapter(tmp_path: Path, reflection=None, run_trials=None, stop=None) -> LabAdapter:
    db = tmp_path / "lab.duckdb"
    log = RunLog(db, "r")
    log.start("reflect", {})
    return LabAdapter(
        seed_variant=Variant("seed"),
        run_trials=run_trials or (lambda *a: []),
        experiment="r",
        db_path=db,
        guards={"system_prompt": Guard.for_seed(SEED)},
        reflection=reflection or Reflection(),
        steps=log,
        stop=stop,
    )


def test_a_guarded_proposal_is_logged_and_a_bad_one_rejected(tmp_path: Path):
    good = "```\nYou are a coding agent. Write results to files.\n$memory\n```"
    reflection = Reflection("```\nno placeholder here\n```", good)
    adapter = make_adapter(tmp_path, reflection)
    heard = []
    adapter.on_proposal = heard.append
    candidate = {"system_prompt": SEED}
    assert adapter.propose_new_texts(candidate, {}, ["system_prompt"]) == {}
    [texts] = [adapter.propose_new_texts(candidate, {}, ["system_prompt"])]
    assert "Write results to files." in texts["system_prompt"]
    steps = optimizer_store.load_steps(adapter.db_path, "r")
    assert list(steps["status"]) == ["rejected", "proposed"]
    assert "missing placeholder" in steps["reason"].iloc[0]
    assert set(steps["reflection_model"]) == {"scripted-reflection"}
    assert steps["parent"].iloc[1] == candidate_id(candidate)
    assert [e["status"] for e in heard] == ["rejected", "proposed"]


def test_a_stop_while_the_reflection_model_answers_proposes_nothing(tmp_path: Path):
    stop = StopToken()
    heard = []

    class StoppedWhileAnswering(Reflection):
        def ask(self, prompt: str, should_stop=None) -> ReflectionReply:
            heard.append(should_stop)
            stop.stop("stopped by the user")  # Ctrl-C while the model answers
            return super().ask(prompt, should_stop)

    good = "```\nYou are a coding agent. Write results to files.\n$memory\n```"
    adapter = make_adapter(tmp_path, StoppedWhileAnswering(good), stop=stop)
    with pytest.raises(Stopped, match="stopped by the user"):
        adapter.propose_new_texts({"system_prompt": SEED}, {}, ["system_prompt"])
    assert heard == [stop]  # the call itself could be cut short
    assert adapter.last_proposal is None
    assert "proposed" not in set(optimizer_store.load_steps(tmp_path / "lab.duckdb", "r").status)
    with pytest.raises(Stopped):  # nor is the model asked again
        adapter.propose_new_texts({"system_prompt": SEED}, {}, ["system_prompt"])
    assert len(heard) == 1


def test_evaluate_scores_trials_and_a_tampered_one_fails(tmp_path: Path):
    pytest.importorskip("gepa", reason="the adapter's batches are gepa's")

    def run_trials(tasks, variants, repeats, experiment):
        def result(task, tamper=()):
            return TrialResult(
                experiment, variants[0].name, task.name, 0, 1.0, True, "done", 1, 1, 1, 1.0, 0,
                None, None, "", tamper,
            )  # fmt: skip

        return [result(TASKS[0]), result(TASKS[1], ("tests changed",))]

    adapter = make_adapter(tmp_path, run_trials=run_trials)
    batch = adapter.evaluate(list(TASKS), {"system_prompt": SEED})
    assert batch.scores == [1.0, 0.0]
    assert batch.outputs[1]["tamper"] == ["tests changed"]


def test_gepa_callbacks_become_steps(tmp_path: Path):
    adapter = make_adapter(tmp_path)
    heard = []
    recorder = StepRecorder(adapter, adapter.steps, heard.append)
    seed = {"system_prompt": SEED}
    recorder.on_valset_evaluated({"candidate": seed, "average_score": 0.25, "candidate_idx": 0})
    adapter.last_proposal = {"candidate": "c2", "parent": candidate_id(seed), "component": "x"}
    recorder.on_candidate_accepted({"new_score": 0.5})
    recorder.on_candidate_rejected({"reason": "worse", "new_score": 0.0, "old_score": 0.5})
    steps = optimizer_store.load_steps(adapter.db_path, "r")
    assert list(steps["status"]) == ["seed", "accepted", "not_accepted"]
    assert steps["val_score"].iloc[0] == 0.25 and steps["reason"].iloc[2] == "worse"
    assert [e["status"] for e in heard] == ["validated", "accepted", "not_accepted"]
    assert heard[0]["best"] == 0.25


def test_a_resumed_run_reports_its_seed_as_resumed(tmp_path: Path):
    adapter = make_adapter(tmp_path)
    recorder = StepRecorder(adapter, adapter.steps, resumed=True)
    recorder.on_valset_evaluated(
        {"candidate": {"system_prompt": SEED}, "average_score": 0.5, "candidate_idx": 0}
    )
    assert list(optimizer_store.load_steps(adapter.db_path, "r")["status"]) == ["resumed"]
