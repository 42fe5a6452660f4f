"""`%claw lab` in a real IPython shell (text view, as under nbconvert), against the scripted
model server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply
from tests.lab.test_runner import UNSANDBOXED


@pytest.fixture
def shell(claw_env, monkeypatch):
    monkeypatch.chdir(claw_env.workspace)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "claw_nb")
    yield sh
    sh.run_line_magic("unload_ext", "claw_nb")


def test_lab_run_prints_progress_and_a_leaderboard_then_report(
    shell, claw_env, tmp_path: Path, capsys
):
    claw_env.server.default = solver_reply
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:2]))
    solver = tmp_path / "solver.toml"
    solver.write_text(f"system_prompt = {json.dumps(SOLVER_PROMPT)}\n")
    flag = " --unsandboxed" if UNSANDBOXED else ""
    exp = shell.run_line_magic(
        "claw", f"lab run {tasks} --variant base --variant solver={solver} --experiment nb{flag}"
    )
    out = capsys.readouterr().out
    assert "solver / write-hello #0: reward 1" in out
    assert "base / fix-number #0: reward 0" in out
    assert "nb: [" in out and "4/4" in out
    assert "pass_rate" in out  # the leaderboard closes the run
    assert sorted((r.variant, r.reward) for r in exp.results()) == [
        ("base", 0.0),
        ("base", 0.0),
        ("solver", 1.0),
        ("solver", 1.0),
    ]
    board = shell.run_line_magic("claw", "lab report nb")
    assert list(board["variant"]) == ["solver", "base"]


def test_lab_usage_errors_are_one_line(shell):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="%claw lab"):
        shell.run_line_magic("claw", "lab frobnicate")


def test_widget_view_shows_bar_running_trials_and_leaderboard():
    from claw_nb.jupyter.lab_view import WidgetLabView
    from claw_nb.lab.trials import TrialProgress, TrialResult

    view = WidgetLabView()
    view.start("w", total=4, skipped=1, slots=2)
    view.update(TrialProgress(("w", "v", "t1", 0), step=3, tokens=1234, started=0.0))
    view.refresh()
    assert "v / t1 #0: step 3, 1,234 tokens" in view.running_html.value
    for task, reward in (("t1", 1.0), ("t2", 0.0), ("t3", 1.0)):
        view.finished(
            TrialResult(
                "w",
                "v",
                task,
                0,
                reward,
                reward == 1.0,
                "completed",
                2,
                10,
                5,
                1.0,
                0,
                None,
                None,
                "",
            )
        )
    view.end(stopped=False)
    assert (view.bar_widget.value, view.bar_widget.max) == (3, 3)
    assert view.running_html.value == "" and view.bar_widget.bar_style == "success"
    assert view.latest_board["pass_rate"].tolist() == [pytest.approx(2 / 3)]
