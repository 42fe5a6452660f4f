"""Stopping a lab run through its token: before it starts, while a trial runs, and with another
run going on in the same process, against the scripted model server and a real DuckDB log."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

from claw_nb.lab.executors import local_executor
from claw_nb.lab.progress import Progress
from claw_nb.lab.store import load_results
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trial_records import trial_id
from claw_nb.lab.variants import Variant
from claw_nb.stop import StopToken
from claw_nb.testing import text, tool_calls
from tests.lab.lab_helpers import SOLUTIONS, TASKS, solver_reply, task_of
from tests.lab.test_runner import query, run

WAIT_S = 60  # a bound for waits on events that come within a second when all is well


class HeldReplies:
    """A scripted model that holds each task's first request until released, then asks for
    the task's tool calls (so a stopped agent reaches a safe point with a call not run)."""

    def __init__(self, held: set[str]):
        self.held = held
        self.reached = {task: threading.Event() for task in held}
        self.reached_one = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: dict):
        task = task_of(request)
        if request["messages"][-1]["role"] == "tool":
            return text("done")
        if task in self.held:
            self.reached[task].set()
            self.reached_one.set()
            self.release.wait(WAIT_S)
        return tool_calls(*SOLUTIONS[task])


def in_thread(fn) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def go():
        box["result"] = fn()

    thread = threading.Thread(target=go)
    thread.start()
    return thread, box


def test_a_run_stopped_before_it_starts_runs_nothing(scripted_server, tmp_path: Path):
    scripted_server.default = solver_reply
    token = StopToken()
    token.stop("stopped before the start")
    exp = run(
        scripted_server, tmp_path / "lab.duckdb", load_tasks(TASKS), [Variant("v")], stop=token
    )
    assert exp.stopped
    assert scripted_server.requests == []
    assert load_results(tmp_path / "lab.duckdb", exp.name) == []


class EndsAtTheStop:
    """An executor whose trials end `interrupted` the moment their tokens stop: a stop then
    finds every trial already over when the runner's wait wakes, as a trial that reaches its
    safe point at once (or a busy machine) makes it."""

    slots = 1

    def __init__(self) -> None:
        self.tokens: list[StopToken] = []  # held, as a worker holds its trial's token

    def submit(self, spec, on_progress=None, stop=None) -> Future:
        from claw_nb.lab.trials import TrialMeter, TrialOutcome, trial_result
        from claw_nb.outcomes import StopReason

        future: Future = Future()
        meter = TrialMeter(spec.key, None)
        result = trial_result(spec, meter, time.monotonic(), StopReason.INTERRUPTED)
        self.tokens.append(stop)
        stop.on_stop(lambda: future.set_result(TrialOutcome(result, b"", True)))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


class Waiting(Progress):
    """Sets `waiting` when the runner redraws after a round of its wait for trials."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def refresh(self) -> None:
        if self.planned:  # not the redraw of `start`, before any trial is submitted
            self.waiting.set()


def test_a_run_whose_trials_all_end_at_the_stop_says_it_stopped(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    token, view = StopToken(), Waiting()
    thread, box = in_thread(
        lambda: run(
            scripted_server,
            db,
            load_tasks(TASKS),
            [Variant("v")],
            experiment="cut",
            executor=EndsAtTheStop(),
            progress=view,
            stop=token,
        )
    )
    assert view.waiting.wait(WAIT_S)  # the runner is waiting for its trials
    token.stop("stopped by the test")  # every trial ends before the runner's wait wakes
    thread.join(WAIT_S)
    assert not thread.is_alive() and box["result"].stopped and view.stopped
    assert load_results(db, "cut") == []


def test_a_stop_mid_run_interrupts_the_running_trial_and_starts_no_queued_one(
    scripted_server, tmp_path: Path
):
    tasks = load_tasks(TASKS)
    held = HeldReplies({t.instruction for t in tasks})
    scripted_server.default = held
    db = tmp_path / "lab.duckdb"
    token = StopToken()
    thread, box = in_thread(
        lambda: run(
            scripted_server,
            db,
            tasks,
            [Variant("v")],
            experiment="stopped",
            executor=local_executor(1),  # one trial runs, two wait
            stop=token,
        )
    )
    assert held.reached_one.wait(WAIT_S)
    token.stop("stopped by the test")
    held.release.set()
    thread.join(WAIT_S)
    assert not thread.is_alive() and box["result"].stopped
    started = {task_of(r) for r in scripted_server.requests}
    assert len(started) == 1  # the queued trials never started
    [task] = [t for t in tasks if t.instruction in started]
    # The running trial ended interrupted: its session says so and names its trial, the call
    # the model asked for did not run, and it has no trials row: a resumed run does it again.
    assert load_results(db, "stopped") == []
    assert query(db, "SELECT stop_reason, trial_id FROM sessions") == [
        ("interrupted", trial_id("stopped", "v", task.name, 0))
    ]
    assert query(db, "SELECT count(*) FROM tool_calls") == [(0,)]

    scripted_server.default = solver_reply
    again = run(scripted_server, db, tasks, [Variant("v")], experiment="stopped")
    assert not again.stopped
    assert sorted(r.task for r in load_results(db, "stopped")) == sorted(t.name for t in tasks)


def test_stopping_one_run_leaves_another_run_in_the_same_process_alone(
    scripted_server, tmp_path: Path
):
    first, second = load_tasks(TASKS[:1]), load_tasks(TASKS[1:2])
    held = HeldReplies({first[0].instruction, second[0].instruction})
    scripted_server.default = held
    db = tmp_path / "lab.duckdb"
    stop_first, stop_second = StopToken(), StopToken()
    runs = [
        in_thread(
            lambda: run(
                scripted_server, db, first, [Variant("v")], experiment="first", stop=stop_first
            )
        ),
        in_thread(
            lambda: run(
                scripted_server, db, second, [Variant("v")], experiment="second", stop=stop_second
            )
        ),
    ]
    assert all(e.wait(WAIT_S) for e in held.reached.values())  # both trials are running
    stop_first.stop("stopped by the test")
    held.release.set()
    for thread, _ in runs:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    assert runs[0][1]["result"].stopped and not runs[1][1]["result"].stopped
    assert not stop_second.stopped
    assert load_results(db, "first") == []
    [done] = load_results(db, "second")
    assert (done.task, done.stop_reason, done.passed) == (second[0].name, "completed", True)
