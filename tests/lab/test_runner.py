"""Experiments end to end against the scripted model server: rows, rewards, resume, timeouts,
crashing verifiers, and the refusal to run unsandboxed by accident."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from claw_nb.errors import SandboxRequired
from claw_nb.lab import verify
from claw_nb.lab.executors import local_executor
from claw_nb.lab.experiment import open_experiment
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.store import load_results
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trial_records import trial_id
from claw_nb.lab.variants import Variant
from claw_nb.testing import delay, text
from tests.helpers import query
from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply, task_of

ROOT = Path(__file__).resolve().parents[2]


def bwrap_usable() -> bool:
    from claw_nb.sandbox import bwrap_status

    return bwrap_status("bwrap")[0]


UNSANDBOXED = not bwrap_usable()  # the same runs, confined when bubblewrap is here

VARIANTS = [Variant("base"), Variant("solver", system_prompt=SOLVER_PROMPT)]


def run(server, db: Path, tasks, variants=VARIANTS, **kw):
    options = {"stream": False}
    return run_experiment(
        tasks,
        variants,
        db_path=db,
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-test",
        unsandboxed=UNSANDBOXED,
        options=options,
        **kw,
    )


def test_two_variants_three_tasks_two_repeats(scripted_server, tmp_path: Path):
    scripted_server.default = solver_reply
    db = tmp_path / "lab.duckdb"
    exp = run(
        scripted_server,
        db,
        load_tasks(TASKS),
        repeats=2,
        experiment="e2e",
        executor=local_executor(2),
    )
    rows = query(
        db,
        'SELECT variant, task, "repeat", reward, passed, stop_reason, steps, '
        'tool_errors, error FROM trials ORDER BY variant, task, "repeat"',
    )
    expected = []
    for variant, steps, reward in (("base", 1, 0.0), ("solver", 2, 1.0)):
        for task in ("fix-number", "two-files", "write-hello"):
            for repeat in (0, 1):
                expected.append(
                    (variant, task, repeat, reward, reward == 1.0, "completed", steps, 0, None)
                )
    assert rows == expected
    # Every trial is an ordinary logged session that names its trial.
    linked = query(
        db,
        "SELECT t.trial_id, s.trial_id, s.system_prompt_name, s.tool_schemas_sha "
        "FROM trials t JOIN sessions s USING (session_id)",
    )
    assert len(linked) == 12 and all(t == s for t, s, _, _ in linked)
    assert {name for _, _, name, _ in linked} == {"default", "solver"}
    assert query(db, "SELECT count(*) FROM tool_schemas") == [(1,)]  # stored once, by sha
    assert {r[0] for r in query(db, "SELECT trial_id FROM trials")} == {
        trial_id("e2e", v, t, r)
        for v in ("base", "solver")
        for t in ("fix-number", "two-files", "write-hello")
        for r in (0, 1)
    }
    assert query(db, "SELECT variant, sha FROM variants ORDER BY variant") == [
        ("base", VARIANTS[0].sha()),
        ("solver", VARIANTS[1].sha()),
    ]
    assert query(db, "SELECT count(*) FROM tasks") == [(3,)]
    # The experiment reads back as results and a leaderboard.
    assert [(r.variant, r.reward) for r in exp.results()][:2] == [("base", 0.0), ("base", 0.0)]
    board = exp.leaderboard(baseline="base").set_index("variant")
    assert board.loc["solver", "pass_rate"] == 1.0 and board.loc["base", "pass_rate"] == 0.0
    assert exp.per_task().loc["two-files", "solver"] == 1.0
    assert open_experiment("e2e", db).results() == exp.results()


def test_partial_credit_and_finished_trials_are_skipped(scripted_server, tmp_path: Path):
    def half(request):
        if request["messages"][-1]["role"] == "tool":
            return text("done")
        from claw_nb.testing import call, tool_calls

        return tool_calls(call("write_file", {"path": "a.txt", "content": "ok\n"}))

    scripted_server.default = half
    db = tmp_path / "lab.duckdb"
    tasks = load_tasks([TASKS[2]])
    run(scripted_server, db, tasks, [Variant("v")], experiment="partial")
    assert query(db, "SELECT reward, passed FROM trials") == [(0.5, False)]
    calls = len(scripted_server.requests)
    run(scripted_server, db, tasks, [Variant("v")], experiment="partial")  # nothing left to do
    assert len(scripted_server.requests) == calls
    assert query(db, "SELECT count(*) FROM trials") == [(1,)]


RESUME_SCRIPT = """
import sys
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.lab.executors import local_executor
from tests.lab.lab_helpers import TASKS, SOLVER_PROMPT
run_experiment(load_tasks(TASKS), [Variant("solver", system_prompt=SOLVER_PROMPT)],
               experiment="resumable", db_path=sys.argv[1], model="openai/scripted",
               api_base=sys.argv[2], api_key="sk-test", unsandboxed=sys.argv[3] == "1",
               options={"stream": False}, executor=local_executor(1))
"""


def test_resume_after_the_driver_is_killed(scripted_server, tmp_path: Path):
    """Kill the driver mid-run: a new run does only the missing trials, once each."""
    slow = "Create a.txt and b.txt, each holding ok"

    def reply(request):
        if task_of(request) == slow and request["messages"][-1]["role"] != "tool":
            return delay(60, text("too late"))
        return solver_reply(request)

    scripted_server.default = reply
    db = tmp_path / "lab.duckdb"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(RESUME_SCRIPT),
            str(db),
            scripted_server.url,
            "1" if UNSANDBOXED else "0",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done: list = []
    while time.monotonic() < deadline:
        if any(task_of(r) == slow for r in scripted_server.requests):
            done = load_results(db, "resumable")
            if len(done) == 2:
                break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sorted(r.task for r in done) == ["fix-number", "write-hello"]
    before = query(db, "SELECT task, finished_at FROM trials ORDER BY task")

    scripted_server.default = solver_reply
    scripted_server.clear_requests()
    run(
        scripted_server,
        db,
        load_tasks(TASKS),
        [Variant("solver", system_prompt=SOLVER_PROMPT)],
        experiment="resumable",
    )
    assert {task_of(r) for r in scripted_server.requests} == {slow}  # only the missing trial
    rows = query(db, "SELECT task, reward FROM trials ORDER BY task")
    assert rows == [("fix-number", 1.0), ("two-files", 1.0), ("write-hello", 1.0)]
    assert (
        query(db, "SELECT task, finished_at FROM trials WHERE task != 'two-files' ORDER BY task")
        == before
    )
    # The killed driver's unfinished session is in the log, marked as such, with no trial.
    orphans = query(db, "SELECT stop_reason FROM sessions WHERE trial_id IS NULL")
    assert all(reason in ("abnormal", None) for (reason,) in orphans)


def test_a_trial_that_runs_past_its_timeout_stops(scripted_server, tmp_path: Path):
    scripted_server.default = delay(30, text("too late"))
    task = dict(TASKS[0], name="slow", agent_timeout_sec=1.5)
    started = time.monotonic()
    run(
        scripted_server,
        tmp_path / "lab.duckdb",
        load_tasks([task]),
        [Variant("v")],
        experiment="timeout",
    )
    elapsed = time.monotonic() - started
    [result] = load_results(tmp_path / "lab.duckdb", "timeout")
    assert result.stop_reason == "timeout" and result.reward == 0.0
    assert "timeout" in result.error
    assert elapsed < 25


def test_a_crashing_verifier_scores_zero_with_its_reason(scripted_server, tmp_path: Path):
    scripted_server.default = text("nothing to do")
    task = dict(
        TASKS[0],
        name="crashy",
        test='echo "verifier exploded" >&2\n"$PYTHON" -c "raise SystemExit(3)"\n',
    )
    run(
        scripted_server,
        tmp_path / "lab.duckdb",
        load_tasks([task]),
        [Variant("v")],
        experiment="crash",
    )
    [result] = load_results(tmp_path / "lab.duckdb", "crash")
    assert (result.reward, result.passed, result.stop_reason) == (0.0, False, "completed")
    assert result.error == "verifier: verifier wrote no reward.txt (exit 3)"
    assert "verifier exploded" in result.verifier_output


def test_the_lab_refuses_to_run_without_bubblewrap_unless_told(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(verify, "require_sandbox", _no_bwrap)
    with pytest.raises(SandboxRequired, match="unsandboxed=True"):
        run_experiment(load_tasks([TASKS[0]]), [Variant("v")], db_path=tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


def _no_bwrap() -> None:
    raise SandboxRequired("bubblewrap is unusable here; pass unsandboxed=True")
