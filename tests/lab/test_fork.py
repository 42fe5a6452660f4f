"""Forks end to end against the scripted model server: a failed trial forked at step 2 with a
variant that teaches the habit passes, a replayed read that differs is reported, the fork's
session names what it forked, and fork-failures pairs forks with their originals."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest

from claw_nb.errors import LabError, SessionNotFound
from claw_nb.lab.fork.failures import fork_failures
from claw_nb.lab.fork.run import fork
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.testing.lab_demo import HABIT_WRITE, demo_task_specs, looking_agent

TAUGHT = Variant("taught", system_prompt=f"You are an agent.\n{HABIT_WRITE}\n$tools\n")
NOTES = "the notes say: put the word where the task says\n"


def demo_tasks(n: int = 2) -> list:
    specs = demo_task_specs(n)
    for spec in specs:
        spec["files"] = {"notes.txt": NOTES}
    return load_tasks(specs)


def query(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_base(server, db: Path, tasks, experiment: str = "base-exp"):
    server.default = looking_agent
    return run_experiment(
        tasks,
        [Variant("base")],
        db_path=db,
        experiment=experiment,
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-test",
        unsandboxed=True,
        options={"stream": False},
    )


def failed_session(db: Path, task: str) -> str:
    return query(db, "SELECT session_id FROM trials WHERE task = ? AND NOT passed", [task])[0][0]


def test_a_failed_trial_forked_at_step_2_with_the_habit_passes(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    scripted_server.clear_requests()

    (result,) = fork(original[:6], 2, TAUGHT, db_path=db, api_key="sk-test")

    assert result.passed and result.original_reward == 0.0
    assert (result.forked_from, result.fork_step) == (original, 2)
    assert (result.replayed, result.skipped, result.divergences) == (1, 0, ())
    assert result.calls_saved == 1 and result.tokens_saved > 0
    # the model saw the logged turn of step 1 under the variant's system prompt, and no new
    # user message: its first request ends with the replayed read's logged result
    first = scripted_server.requests[0]["messages"]
    assert HABIT_WRITE in first[0]["content"]
    assert [m["role"] for m in first] == ["system", "user", "assistant", "tool"]
    assert NOTES.strip() in first[-1]["content"]
    assert result.model_calls == 2  # the write at step 2, then the answer
    assert 0 < result.first_prompt_tokens < result.prompt_tokens


def test_the_fork_session_is_logged_with_forked_from_and_fork_step(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    (result,) = fork(original, 2, TAUGHT, db_path=db, api_key="sk-test")
    rows = query(
        db,
        "SELECT forked_from, fork_step, trial_id IS NOT NULL FROM sessions WHERE session_id = ?",
        [result.session_id],
    )
    assert rows == [(original, 2, True)]
    # the fork's own log holds its whole conversation, its first model call is step 2
    roles = query(
        db, "SELECT role FROM messages WHERE session_id = ? ORDER BY seq", [result.session_id]
    )
    assert [r[0] for r in roles] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    steps = query(db, "SELECT step FROM llm_calls WHERE session_id = ?", [result.session_id])
    assert sorted(s[0] for s in steps) == [2, 3]
    trials = query(
        db,
        "SELECT experiment, variant, passed FROM trials WHERE session_id = ?",
        [result.session_id],
    )
    assert trials == [("base-exp-forks", "taught", True)]


def test_a_replayed_read_that_differs_is_reported(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    copy = tmp_path / "edited-task"  # the logged task with another notes.txt
    shutil.copytree(tasks[0].path, copy)
    (copy / "environment" / "notes.txt").write_text("someone changed the notes\n")
    edited = dataclasses.replace(tasks[0], path=copy)

    (result,) = fork(original, 2, TAUGHT, db_path=db, api_key="sk-test", task=edited)

    assert result.replayed == 1 and len(result.divergences) == 1
    divergence = result.divergences[0]
    assert (divergence.step, divergence.tool) == (1, "read_file")
    assert "notes say" in divergence.logged and "someone changed" in divergence.replayed
    assert "1 diverged" in result.summary()


def test_a_step_beyond_the_session_is_refused(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    with pytest.raises(LabError, match=r"--at-step 9 is outside session .* has 2 step\(s\)"):
        fork(original, 9, TAUGHT, db_path=db)
    with pytest.raises(SessionNotFound, match="no session 'zzzz'"):
        fork("zzzz", 1, TAUGHT, db_path=db)


def test_fork_failures_pairs_forks_with_their_originals(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(2))

    report = fork_failures("base-exp", TAUGHT, db_path=db, api_key="sk-test")

    assert len(report.forks) == 2
    assert all(f.fork_step == 2 and f.passed for f in report.forks)
    comparison = report.comparison
    assert (comparison.wins, comparison.losses, comparison.n_tasks) == (2, 0, 2)
    assert comparison.method == "exact McNemar" and comparison.small_sample
    assert list(report.frame()["reward"]) == [1.0, 1.0]


def test_fork_failures_shows_each_fork_on_a_progress_display(scripted_server, tmp_path):
    from claw_nb.lab.progress import Progress

    class Seen(Progress):
        def __init__(self):
            super().__init__()
            self.phases: list[tuple[str, int]] = []

        def update(self, progress):
            super().update(progress)
            self.phases.append((progress.phase, progress.step))

    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(2))
    view = Seen()

    report = fork_failures("base-exp", TAUGHT, db_path=db, api_key="sk-test", progress=view)

    assert (view.experiment, view.total, view.done) == ("base-exp-forks", 2, 2)
    assert [key[1:] for key in view.planned] == [
        ("taught", "demo-amber", 0),
        ("taught", "demo-birch", 0),
    ]
    assert [row.state for row in view.trial_rows()] == ["passed", "passed"]
    # each fork starts at the step before the one it takes over, then reaches it, then verifies
    assert view.phases[:3] == [("running", 1), ("running", 2), ("running", 3)]
    assert ("verifying", 3) in view.phases
    assert not view.stopped and not report.stopped and len(report.forks) == 2
