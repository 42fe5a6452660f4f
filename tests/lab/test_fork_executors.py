"""Forks fanned out over an executor, against the scripted model server and a real DuckDB log:
a pool of two runs forks side by side and records exactly what one fork after another records,
a planned fork runs from plain data without the driver's log, and a stop mid-run ends the
running forks `interrupted` and starts no queued one (and says so when they all end before the
driver sees the stop)."""

from __future__ import annotations

import dataclasses
import pickle
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from claw_nb.lab.executors import local_executor
from claw_nb.lab.fork.failures import FailureForks, fork_failures
from claw_nb.lab.fork.plan import fork_point, plan_forks
from claw_nb.lab.fork.run import fork
from claw_nb.lab.fork.worker import run_fork
from claw_nb.lab.progress import Progress
from claw_nb.stop import StopToken
from claw_nb.testing.lab_demo import HABIT_WRITE, looking_agent
from tests.lab.test_fork import TAUGHT, demo_tasks, failed_session, query, run_base

WAIT_S = 60  # a bound for waits on events that come within a second when all is well


def fork_rows(db: Path, experiment: str) -> list[tuple]:
    """The forks of `experiment` as the log holds them, without what differs from one run to
    the next (session and call ids, times): per fork its trial, its session's marks and its
    whole conversation."""
    trials = query(
        db,
        """SELECT t.session_id, t.task, t.variant, t."repeat", t.reward, t.passed,
                  t.stop_reason, t.steps, t.prompt_tokens, t.completion_tokens, t.tool_errors,
                  s.forked_from, s.fork_step, s.stop_reason, s.trial_id = t.trial_id
           FROM trials t JOIN sessions s USING (session_id)
           WHERE t.experiment = ? ORDER BY t.task, t."repeat\"""",
        [experiment],
    )
    rows = []
    for session_id, *trial in trials:
        messages = query(
            db, "SELECT role, content FROM messages WHERE session_id = ? ORDER BY seq", [session_id]
        )
        calls = query(
            db,
            "SELECT step, tool, arguments, ok, result FROM tool_calls WHERE session_id = ? "
            "ORDER BY step, created_at",
            [session_id],
        )
        steps = query(
            db, "SELECT step FROM llm_calls WHERE session_id = ? ORDER BY step", [session_id]
        )
        rows.append((*trial, tuple(messages), tuple(calls), tuple(s[0] for s in steps)))
    return rows


def report_rows(report: FailureForks) -> tuple:
    """The paired report without the fork session ids and wall times."""
    frame = report.frame().drop(columns=["fork", "wall_s"])
    return (
        frame.to_dict("records"),
        dataclasses.astuple(report.comparison),
        report.summary(),
        report.stopped,
    )


class Together:
    """The scripted agent, but the first request of each fork waits (up to WAIT_S) until two
    forks' first requests are at the server at once: they only meet when forks run side by
    side."""

    def __init__(self, forks: int = 2):
        self.barrier = threading.Barrier(forks)
        self.met = threading.Event()

    def __call__(self, request: dict):
        messages = request["messages"]
        first_of_fork = HABIT_WRITE in messages[0]["content"] and messages[-1]["role"] == "tool"
        if first_of_fork and not self.met.is_set():
            try:
                self.barrier.wait(WAIT_S)
                self.met.set()
            except threading.BrokenBarrierError:
                pass
        return looking_agent(request)


def test_forks_on_a_pool_of_two_record_what_one_after_another_records(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(3))

    one = local_executor(1)
    try:
        sequential = fork_failures(
            "base-exp",
            TAUGHT,
            db_path=db,
            api_key="sk-test",
            executor=one,
            forks_experiment="one-by-one",
        )
    finally:
        one.shutdown()
    together = Together()
    scripted_server.default = together
    pool = local_executor(2)
    try:
        fanned = fork_failures(
            "base-exp",
            TAUGHT,
            db_path=db,
            api_key="sk-test",
            executor=pool,
            forks_experiment="side-by-side",
        )
    finally:
        pool.shutdown()

    assert together.met.is_set()  # two forks were at the model at once
    # the third task also needs a habit the variant lacks: a fork that fails is compared too
    assert [f.passed for f in fanned.forks] == [True, True, False]
    assert [f.forked_from for f in fanned.forks] == [f.forked_from for f in sequential.forks]
    assert fork_rows(db, "side-by-side") == fork_rows(db, "one-by-one")
    assert len(fork_rows(db, "side-by-side")) == 3
    assert report_rows(fanned) == report_rows(sequential)
    assert (fanned.comparison.wins, fanned.comparison.losses) == (2, 0)


def test_repeats_of_one_fork_on_a_pool_take_their_own_repeat_numbers(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    seen = []
    pool = local_executor(2)
    try:
        results = fork(
            original,
            2,
            TAUGHT,
            repeats=3,
            db_path=db,
            api_key="sk-test",
            executor=pool,
            on_fork=seen.append,
        )
    finally:
        pool.shutdown()
    assert [r.repeat for r in results] == [0, 1, 2]
    assert sorted(r.session_id for r in seen) == sorted(r.session_id for r in results)
    rows = query(
        db,
        'SELECT t."repeat", s.forked_from, s.fork_step FROM trials t JOIN sessions s '
        'USING (session_id) WHERE t.experiment = ? ORDER BY t."repeat"',
        ["base-exp-forks"],
    )
    assert rows == [(0, original, 2), (1, original, 2), (2, original, 2)]


def test_a_planned_fork_runs_from_plain_data_without_the_drivers_log(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    (plan,) = plan_forks(db, [fork_point(original, 2, db)], TAUGHT, api_key="sk-test")
    # what crosses to a worker: the spec, the trajectory and the step, as bytes
    spec, trajectory, step = pickle.loads(pickle.dumps((plan.spec, plan.trajectory, plan.at_step)))
    db.rename(tmp_path / "moved.duckdb")  # the worker cannot reach the driver's log

    outcome = run_fork(spec, trajectory, step)

    assert not db.exists()
    assert outcome.result.passed and not outcome.stopped
    assert (outcome.replayed, outcome.divergences) == (1, ())
    assert outcome.journal and outcome.result.session_id
    pickle.loads(pickle.dumps(outcome))  # and what comes back is plain data too


class HeldForks:
    """The scripted agent, holding each fork's first request until released."""

    def __init__(self):
        self.reached: list[str] = []
        self.two_reached = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: dict):
        messages = request["messages"]
        if HABIT_WRITE in messages[0]["content"] and messages[-1]["role"] == "tool":
            with self.lock:
                self.reached.append(next(m["content"] for m in messages if m["role"] == "user"))
                if len(self.reached) == 2:
                    self.two_reached.set()
            self.release.wait(WAIT_S)
        return looking_agent(request)


def test_a_stop_mid_run_interrupts_the_running_forks_and_starts_no_queued_one(
    scripted_server, tmp_path
):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(3)
    run_base(scripted_server, db, tasks)
    originals = {failed_session(db, t.name) for t in tasks}
    held = HeldForks()
    scripted_server.default = held
    token = StopToken()
    box: dict = {}
    pool = local_executor(2)  # two forks run, one waits

    def go():
        box["report"] = fork_failures(
            "base-exp", TAUGHT, db_path=db, api_key="sk-test", executor=pool, stop=token
        )

    thread = threading.Thread(target=go)
    thread.start()
    try:
        assert held.two_reached.wait(WAIT_S)
        token.stop("stopped by the test")
        held.release.set()
        thread.join(WAIT_S)
    finally:
        held.release.set()
        pool.shutdown()
    assert not thread.is_alive()
    report = box["report"]
    assert report.stopped and report.forks == ()
    assert "stopped before the end" in report.summary()
    assert len(held.reached) == 2  # the queued fork never reached the model
    # The running forks ended interrupted: their sessions say so and name what they forked,
    # the write the model asked for did not run, and they have no trials row.
    assert query(db, "SELECT count(*) FROM trials WHERE experiment = 'base-exp-forks'") == [(0,)]
    sessions = query(
        db,
        "SELECT forked_from, fork_step, stop_reason, trial_id IS NOT NULL FROM sessions "
        "WHERE forked_from IS NOT NULL",
    )
    assert len(sessions) == 2
    assert all(s[0] in originals and s[1:] == (2, "interrupted", True) for s in sessions), sessions
    written = query(
        db,
        "SELECT count(*) FROM tool_calls c JOIN sessions s USING (session_id) "
        "WHERE s.forked_from IS NOT NULL AND c.tool = 'write_file'",
    )
    assert written == [(0,)]


class EndsAtTheStop:
    """An executor whose forks end `interrupted` the moment their tokens stop, so a stop
    finds every fork over when the driver's wait wakes."""

    slots = 2

    def __init__(self) -> None:
        self.tokens: list[StopToken] = []  # held, as a worker holds its fork's token

    def submit_work(self, work, spec, *args, on_progress=None, stop=None) -> Future:
        from claw_nb.lab.fork.worker import ForkOutcome
        from claw_nb.lab.trials import TrialMeter, trial_result
        from claw_nb.outcomes import StopReason

        future: Future = Future()
        result = trial_result(
            spec, TrialMeter(spec.key, None), time.monotonic(), StopReason.INTERRUPTED
        )
        self.tokens.append(stop)
        stop.on_stop(
            lambda: future.set_result(ForkOutcome(result, b"", True, 0, 0, (), 0, None, 0))
        )
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


class Waiting(Progress):
    """Sets `waiting` when the driver redraws after a round of its wait for forks."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def refresh(self) -> None:
        if self.planned:  # not the redraw of `start`, before any fork is submitted
            self.waiting.set()


def test_forks_that_all_end_at_the_stop_leave_a_stopped_report(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(2))
    token, view, box = StopToken(), Waiting(), {}

    def go():
        box["report"] = fork_failures(
            "base-exp",
            TAUGHT,
            db_path=db,
            api_key="sk-test",
            executor=EndsAtTheStop(),
            progress=view,
            stop=token,
        )

    thread = threading.Thread(target=go)
    thread.start()
    assert view.waiting.wait(WAIT_S)  # the driver is waiting for its forks
    token.stop("stopped by the test")  # every fork ends before the driver's wait wakes
    thread.join(WAIT_S)
    assert not thread.is_alive()
    report = box["report"]
    assert report.stopped and report.forks == () and view.stopped
    assert "stopped before the end" in report.summary()
