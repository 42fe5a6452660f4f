"""reflect end to end: gepa's loop, our adapter, the real lab runner and DuckDB log, the scripted
server as both the task model and the reflection model (a scripted plan of proposals)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("gepa", reason="reflect needs the optional gepa package ([optimize])")

from claw_nb.lab.optimize import ReflectionModel, ReflectOptions, load_steps, reflect
from claw_nb.log.database import DEFAULT_TIMEOUT, open_database
from claw_nb.testing import ScriptedServer
from claw_nb.testing.lab_demo import HABIT_WRITE, demo_tasks, scripted_reflection

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
# 3 train tasks (one minibatch), 2 validation, 6 held-out; easy/medium only need HABIT_WRITE.
SPLIT = {
    "train": ["demo-amber", "demo-birch", "demo-delta"],
    "val": ["demo-ember", "demo-grove"],
    "held_out": [
        "demo-heron",
        "demo-jasper",
        "demo-kelp",
        "demo-maple",
        "demo-nectar",
        "demo-pebble",
    ],
}


def tasks():
    return [t for t in demo_tasks(18) if t.name in sum(SPLIT.values(), [])]


def run_reflect(server, db_path, run, budget, **extra):
    return reflect(
        tasks(),
        split=SPLIT,
        run=run,
        db_path=db_path,
        reflection_model=ReflectionModel("openai/scripted", api_base=server.url, api_key="sk"),
        options=ReflectOptions(budget=budget, held_out_repeats=2),
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-test",
        unsandboxed=True,
        **extra,
    )


def query(db_path, sql, *params):
    con, _ = open_database(Path(db_path), read_only=True, timeout=DEFAULT_TIMEOUT)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_reflect_guards_proposals_accepts_by_the_rules_and_checks_held_out(tmp_path):
    plan = ["think", "no-placeholder", "truncated", "copy", "noop", "write"]
    db = tmp_path / "lab.duckdb"
    # seed on val (2) + four rejected proposals (3 each, the parent's minibatch)
    # + noop (3 + 3, not kept) + write (3 + 3 + 2 for validation) = 28 rollouts.
    with ScriptedServer(default=scripted_reflection(plan)) as server:
        result = run_reflect(server, db, "r1", budget=28)
    steps = load_steps(db, "r1")
    rejected = list(steps.loc[steps.status == "rejected", "reason"])
    assert len(rejected) == 4
    assert "think" in rejected[0]
    assert "missing placeholder $memory" in rejected[1]
    assert "never closed" in rejected[2]
    assert "task-specific" in rejected[3] and "training task" in rejected[3]
    assert list(steps.status[steps.status.isin(["not_accepted", "accepted"])]) == [
        "not_accepted",
        "accepted",
    ]
    seed_row = steps[steps.status == "seed"].iloc[0]
    best_row = steps[steps.status == "validated"].iloc[-1]
    assert seed_row.val_score == 0.0 and best_row.val_score == 1.0
    # What reflection saw came from the log: the verifier's words for a failed trial.
    assert "expected amber in out_amber.txt" in steps.reflection_prompt.dropna().iloc[0]
    assert HABIT_WRITE in result.best_texts["system_prompt"]
    assert "$memory" in result.best_texts["system_prompt"]
    assert "+" + HABIT_WRITE in result.diff()
    # The winner was re-measured against the seed on the six held-out tasks, twice each.
    held = query(
        db,
        "SELECT variant, count(*), avg(reward) FROM trials "
        "WHERE experiment = 'r1/held-out' GROUP BY variant ORDER BY variant",
    )
    assert [(v, n) for v, n, _ in held] == [("seed", 12), ("winner", 12)]
    assert result.held_out.diff == pytest.approx(1.0) and result.held_out.wins == 6
    assert result.holds and "holds" in result.verdict
    curve = result.curve()
    assert list(curve.best_so_far) == [0.0, 1.0]
    assert query(db, "SELECT status, best_candidate IS NOT NULL FROM optimizer_runs") == [
        ("done", True)
    ]
    settings = result.adopt("tuned", workspace=tmp_path)
    assert HABIT_WRITE in (tmp_path / ".claw/prompts/tuned.md").read_text()
    assert 'prompt_name = ".claw/prompts/tuned.md"' in settings.read_text()


CHILD = textwrap.dedent("""
    from pathlib import Path
    from tests.lab.optimize.test_reflect import run_reflect
    from claw_nb.testing.lab_demo import scripted_reflection
    from claw_nb.testing import ScriptedServer

    with ScriptedServer(default=scripted_reflection(["think", "die"])) as server:
        run_reflect(server, Path({db!r}), "resumable", budget=16)
    print("not killed")
""")


def test_resume_after_a_kill_continues_the_same_run(tmp_path):
    db = tmp_path / "lab.duckdb"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(db=str(db))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert child.returncode == -9, child.stdout[-2000:] + child.stderr[-3000:]
    before = load_steps(db, "resumable")
    assert list(before.status) == ["seed", "rejected"]
    trials_before = query(db, "SELECT count(*) FROM trials WHERE experiment = 'resumable'")[0][0]
    assert trials_before == 2 + 3  # the seed on val, then on the train minibatch

    # seed on val (2, done) + think (3) + the killed iteration again (3 + 3 + 2) = 13.
    with ScriptedServer(default=scripted_reflection(["write"])) as server:
        result = run_reflect(server, db, "resumable", budget=13)
    after = load_steps(db, "resumable")
    assert list(after.step) == list(range(len(after)))
    assert list(after.status[:2]) == ["seed", "rejected"]  # kept, not redone
    assert (after.status == "seed").sum() == 1 and list(after.status[2:3]) == ["resumed"]
    assert "accepted" in set(after.status)
    assert HABIT_WRITE in result.best_texts["system_prompt"]
    seed_trials = query(
        db,
        "SELECT task, count(*) FROM trials WHERE experiment = 'resumable' "
        "AND variant = ? GROUP BY task",
        seed_row_candidate(after),
    )
    assert all(n == 1 for _, n in seed_trials)  # no trial of the seed was run twice


def seed_row_candidate(steps) -> str:
    return steps[steps.status == "seed"].iloc[0].candidate


def test_a_stopped_run_says_so_and_continues_when_called_again(tmp_path):
    from claw_nb.stop import StopToken

    db = tmp_path / "lab.duckdb"
    heard = []
    token = StopToken()

    def stop_after_the_seed(event):
        heard.append(event["status"])
        if event["status"] == "validated":
            token.stop("stopped by the test")

    with ScriptedServer(default=scripted_reflection(["write"])) as server:
        first = run_reflect(
            server, db, "stoppable", budget=10, on_step=stop_after_the_seed, stop=token
        )
        assert heard == ["plan", "validated"]  # nothing more: gepa looked at the token
        assert first.stopped and "stopped" in first.verdict and not first.holds
        assert query(db, "SELECT status FROM optimizer_runs") == [("stopped",)]
        assert (
            "stopped by the test"
            in query(db, "SELECT reason FROM optimizer_steps WHERE status = 'stopped'")[0][0]
        )
        second = run_reflect(server, db, "stoppable", budget=10)
    statuses = list(load_steps(db, "stoppable").status)
    assert statuses[:3] == ["seed", "stopped", "resumed"]
    assert statuses[-1] == "held_out" and "accepted" in statuses
    assert second.holds and not second.stopped


def test_reflect_can_evolve_a_tool_description(tmp_path):
    db = tmp_path / "lab.duckdb"
    with ScriptedServer(default=scripted_reflection(["write"])) as server:
        result = run_reflect(server, db, "tools", budget=10, components=("tool:write_file",))
    described = result.best_texts["tool:write_file"]
    from claw_nb.tools.files import write_file

    seed = write_file.description
    assert described.startswith(seed) and HABIT_WRITE in described, "the seed, evolved"
    assert result.holds
    overrides = query(
        db,
        "SELECT overrides FROM variants WHERE experiment = 'tools/held-out' AND variant = 'winner'",
    )[0][0]
    assert HABIT_WRITE in overrides and "tool_descriptions" in overrides
