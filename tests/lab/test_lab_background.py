"""`%claw lab run` in the background of a real IPython shell, with the widget view as in
JupyterLab: the cell returns before its trials finish, other cells run meanwhile, the Stop
button, `%claw lab stop` and the handle stop it, and the results land in the same DuckDB log.
Against the scripted model server; a held reply keeps a trial running for as long as a test
needs (no sleeps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.lab_helpers import TASKS, solver_reply
from tests.lab.test_runner import UNSANDBOXED, query
from tests.lab.test_runner_stop import WAIT_S, HeldReplies
from tests.notebook_shell import claw_shell, widget_mode

FLAG = " --unsandboxed" if UNSANDBOXED else ""


@pytest.fixture
def shell(claw_env, monkeypatch):
    """A real IPython shell in the widget view, as in JupyterLab; IPython's own display stays."""
    widget_mode(monkeypatch, display=None)
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


@pytest.fixture
def held(claw_env, tmp_path: Path):
    """Two tasks whose first model call waits until `held.release` is set."""
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:2]))
    replies = HeldReplies({t["instruction"] for t in TASKS[:2]})
    replies.tasks = tasks
    claw_env.server.default = replies
    yield replies
    replies.release.set()  # nothing stays held after a failed test


def test_a_lab_run_cell_returns_before_its_trials_finish_and_other_cells_run(shell, claw_env, held):
    cell = shell.run_cell(f"run = %claw lab run {held.tasks} --slots 1 --experiment bg{FLAG}")
    assert cell.success
    run = shell.user_ns["run"]
    assert held.reached_one.wait(WAIT_S)  # the first trial is at its first model call, held
    assert not run.done and run.status == "running"
    assert [row.state for row in run.view.trial_rows()] == ["running", "queued"]
    other = shell.run_cell("answer = 6 * 7")  # the kernel is free while the trials run
    assert other.success and shell.user_ns["answer"] == 42 and not run.done
    assert "running" in repr(run) and "%claw lab stop" in repr(run)

    held.release.set()
    exp = run.wait(WAIT_S)
    assert exp.name == "bg" and not exp.stopped and run.status == "done"
    assert sorted(r.reward for r in exp.results()) == [1.0, 1.0]
    assert run.view.bar_widget.bar_style == "success"
    assert run.view.counts_html.value == "2 passed"
    # the same DuckDB log as the kernel's other runs, readable from the next cell
    rows = query(claw_env.db, "SELECT count(*) FROM trials WHERE experiment = 'bg'")
    assert rows == [(2,)]
    report = shell.run_line_magic("claw", "lab report bg")
    assert report.frame["trials"].tolist() == [2]


def test_the_stop_button_stops_a_background_run_and_the_same_cell_resumes_it(shell, claw_env, held):
    line = f"lab run {held.tasks} --slots 1 --experiment bgstop{FLAG}"
    run = shell.run_line_magic("claw", line)
    assert held.reached_one.wait(WAIT_S)
    run.view.stop_button.click()  # what the kernel does with the button's message
    assert run.token.wait(WAIT_S) and run.view.stop_button.disabled
    held.release.set()  # the held call returns; the agent stops at its next safe point
    exp = run.wait(WAIT_S)
    assert exp.stopped and exp.results() == [] and run.status == "stopped"
    assert run.view.bar_widget.bar_style == "warning"
    assert run.view.counts_html.value == "2 stopped"
    assert "run the same cell again to resume" in run.view.status.value

    again = shell.run_line_magic("claw", line)
    assert len(again.wait(WAIT_S).results()) == 2  # the same experiment, picked up


def test_lab_stop_stops_the_running_run_and_cancels_a_queued_one(shell, held, capsys):
    first = shell.run_line_magic("claw", f"lab run {held.tasks} --experiment one{FLAG}")
    second = shell.run_line_magic("claw", f"lab run {held.tasks} --experiment two{FLAG}")
    assert held.reached_one.wait(WAIT_S)
    assert second.status == "queued" and "waiting for 1 lab run" in second.view.status.value
    capsys.readouterr()
    shell.run_line_magic("claw", "lab stop")
    out = capsys.readouterr().out
    assert "lab run 'one': stopping" in out and "lab run 'two': cancelled" in out
    held.release.set()
    assert first.wait(WAIT_S).stopped and second.wait(WAIT_S) is None
    assert second.status == "cancelled" and "cancelled" in second.view.status.value
    shell.run_line_magic("claw", "lab stop")
    assert "no lab run is going on" in capsys.readouterr().out


def test_no_wait_runs_in_the_background_with_the_text_view_too(claw_env, held, monkeypatch, capsys):
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        run = sh.run_line_magic("claw", f"lab run {held.tasks} --experiment textbg --no-wait{FLAG}")
        assert "lab run 'textbg': 2 trial(s) in the background" in capsys.readouterr().out
        assert held.reached_one.wait(WAIT_S) and not run.done
        held.release.set()
        assert len(run.wait(WAIT_S).results()) == 2
        out = capsys.readouterr().out
        assert "write-hello #0: reward 1, passed" in out and "pass rate" in out


def test_a_run_that_fails_in_the_background_says_why_in_its_view(shell, claw_env, tmp_path):
    claw_env.server.default = solver_reply
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:1]))
    base = tmp_path / "base.toml"
    base.write_text("temperature = 0.5\n")
    shell.run_line_magic("claw", f"lab run {tasks} --variant base --experiment f --wait{FLAG}")
    # the same experiment with other overrides for `base` is refused when it registers
    run = shell.run_line_magic(
        "claw", f"lab run {tasks} --variant base={base} --experiment f{FLAG}"
    )
    assert run.wait(WAIT_S) is None and run.status == "failed"
    assert "already has a variant 'base' with other overrides" in run.error
    assert run.view.bar_widget.bar_style == "danger" and "claw: " in run.view.status.value


def test_bad_words_fail_in_the_cell_before_anything_starts(shell, tmp_path):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no tasks|does not exist|cannot"):
        shell.run_line_magic("claw", f"lab run {tmp_path / 'nope.json'}{FLAG}")
    with pytest.raises(UsageError, match="--repeats must be at least 1"):
        shell.run_line_magic("claw", f"lab run builtin --repeats 0{FLAG}")
