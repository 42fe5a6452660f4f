"""Each trial's state as a display sees it: queued, running (step n), verifying, then passed,
failed, error or stuck (stopped when a stop cut it); a real run against the scripted server
for the events, results made by hand for the verdicts."""

from __future__ import annotations

from pathlib import Path

from claw_nb.lab.progress import Progress, finished_state
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.trials import TrialProgress, TrialResult
from tests.lab.lab_helpers import TASKS, solver_reply
from tests.lab.test_runner import run


class StateRecorder(Progress):
    """Notes each trial's state in the display at every event the runner sends."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, str]] = []  # (task, phase, state shown)
        self.at_queue: list[str] = []

    def queue(self, keys: list[tuple]) -> None:
        super().queue(keys)
        self.at_queue = [row.state for row in self.trial_rows()]

    def update(self, progress: TrialProgress) -> None:
        super().update(progress)
        state = next(r.state for r in self.trial_rows() if r.key == progress.key)
        self.seen.append((progress.key[2], progress.phase, state))


def test_a_trial_is_queued_then_running_then_verifying_then_judged(scripted_server, tmp_path: Path):
    scripted_server.default = solver_reply
    recorder = StateRecorder()
    tasks = load_tasks(TASKS[:2])
    exp = run(scripted_server, tmp_path / "lab.duckdb", tasks, progress=recorder)
    assert recorder.at_queue == ["queued"] * 4  # 2 variants x 2 tasks, none started yet
    for task in ("write-hello", "fix-number"):
        mine = [(phase, state) for t, phase, state in recorder.seen if t == task]
        assert mine[0] == ("running", "running")
        assert mine[-1] == ("verifying", "verifying")  # said once, after the agent stopped
        assert [p for p, _ in mine].count("verifying") == 2  # once per variant
    states = {row.label: row.state for row in recorder.trial_rows()}
    assert states == {
        "solver / write-hello #0": "passed",
        "solver / fix-number #0": "passed",
        "base / write-hello #0": "failed",
        "base / fix-number #0": "failed",
    }
    assert all(row.seconds is not None and row.seconds > 0 for row in recorder.trial_rows())
    assert len(exp.results()) == 4


def test_a_verifying_trial_counts_its_time_from_when_the_verifier_started():
    view = Progress()
    view.start("e", total=1, skipped=0, slots=1)
    view.queue([("e", "v", "t", 0)])
    view.update(TrialProgress(("e", "v", "t", 0), 4, 900, started=0.0))
    (row,) = view.trial_rows()
    assert (row.state, row.step, row.tokens) == ("running", 4, 900) and row.seconds > 1e9
    view.update(
        TrialProgress(("e", "v", "t", 0), 4, 900, 0.0, phase="verifying", phase_started=1e18)
    )
    (row,) = view.trial_rows()
    assert row.state == "verifying" and row.seconds < 0  # since phase_started, not started
    assert view.running_lines() == [
        f"  v / t #0: verifying (4 steps, 900 tokens), {row.seconds:.0f} s"
    ]


def _result(reward: float, stop_reason: str) -> TrialResult:
    return TrialResult(
        "e", "v", "t", 0, reward, reward >= 1, stop_reason, 1, 1, 1, 1.0, 0, None, None, ""
    )


def test_a_finished_trial_is_passed_failed_error_or_stuck():
    assert finished_state(_result(1.0, "completed")) == "passed"
    assert finished_state(_result(1.0, "max_steps")) == "passed"  # the verifier decides
    assert finished_state(_result(0.5, "completed")) == "failed"
    assert finished_state(_result(0.0, "timeout")) == "failed"
    assert finished_state(_result(0.0, "stuck")) == "stuck"
    for reason in ("error", "model_error", "model_unreachable", "auth"):
        assert finished_state(_result(0.0, reason)) == "error"
