"""The log of an optimizer run: numbered steps, statuses from one closed set, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_nb.lab import optimizer_store
from claw_nb.lab.optimize.run_log import STEP_STATUSES, RunLog, describe_step, text_sha


def test_steps_are_numbered_after_the_last_logged_one(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    log = RunLog(db, "r")
    assert log.start("reflect", {"split": {}}) is None
    assert log.start("reflect", {"other": 1}) == {"split": {}}  # exists: its own config
    log.add("seed", candidate="c1", val_score=0.5, text="hello")
    log.add("proposed", candidate="c2", parent="c1")
    again = RunLog(db, "r")  # a resumed run goes on from the log
    assert again.add("stopped").step == 2
    steps = optimizer_store.load_steps(db, "r")
    assert list(steps["step"]) == [0, 1, 2]
    assert list(steps["status"]) == ["seed", "proposed", "stopped"]
    assert steps["text_sha"].iloc[0] == text_sha("hello")


def test_the_run_status_and_best_candidate(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    log = RunLog(db, "r")
    log.start("compare", {"variants": ["a"]})
    log.finish("done", "a", config={"variants": ["a", "b"]})
    run = optimizer_store.logged_run(db, "r")
    assert (run["status"], run["best_candidate"]) == ("done", "a")
    assert run["config"] == {"variants": ["a", "b"]}


def test_an_unknown_status_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown optimizer step status"):
        RunLog(tmp_path / "lab.duckdb", "r").add("kept")


def test_every_status_the_reports_read_is_in_the_closed_set():
    import inspect

    from claw_nb.lab.optimize import adapter, reflect, result

    text = "".join(inspect.getsource(m) for m in (adapter, reflect, result))
    for status in ("seed", "resumed", "validated", "rejected", "proposed", "held_out"):
        assert status in STEP_STATUSES and f'"{status}"' in text


@pytest.mark.parametrize(
    "event, line",
    [
        ({"status": "plan", "plan": "x"}, None),
        (
            {"status": "validated", "val_score": 0.5, "best": 0.75, "rollouts": 12},
            "reflect: validation score 0.50 (best so far 0.75) after 12 rollouts",
        ),
        (
            {"status": "rejected", "component": "system_prompt", "reason": "no\n fence"},
            "reflect: proposal for system_prompt rejected by a guard: no fence",
        ),
        (
            {"status": "accepted", "candidate": "c2"},
            "reflect: proposal c2 kept: better on its minibatch",
        ),
        ({"status": "not_accepted", "reason": ""}, "reflect: proposal not kept"),
    ],
)
def test_each_step_event_is_one_line(event, line):
    assert describe_step(event) == line
