"""`%claw lab` in a real IPython shell (text view, as under nbconvert), against the scripted
model server."""

from __future__ import annotations

import json
import signal
import threading
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


def test_interrupting_the_kernel_stops_a_lab_run_at_its_next_safe_point(
    shell, claw_env, tmp_path: Path, capsys, monkeypatch
):
    from claw_nb.jupyter import lab_view
    from claw_nb.stop import StopToken
    from tests.lab.test_runner_stop import WAIT_S, HeldReplies

    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS))
    held = HeldReplies({t["instruction"] for t in TASKS})
    claw_env.server.default = held
    cell_tokens = []

    class SeenToken(StopToken):  # so the interrupter knows when the cell's token has stopped
        def __init__(self, parent=None):
            super().__init__(parent)
            cell_tokens.append(self)

    monkeypatch.setattr(lab_view, "StopToken", SeenToken)

    def interrupt_the_kernel():
        held.reached_one.wait(WAIT_S)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # the Stop button
        cell_tokens[0].wait(WAIT_S)
        held.release.set()

    threading.Thread(target=interrupt_the_kernel, daemon=True).start()
    flag = " --unsandboxed" if UNSANDBOXED else ""
    exp = shell.run_line_magic("claw", f"lab run {tasks} --slots 1 --experiment nbstop{flag}")
    out = capsys.readouterr().out
    assert exp.stopped and "stopped: run the same cell again to resume" in out
    assert exp.results() == [] and len(claw_env.server.requests) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


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


def test_lab_optimize_compare_show_and_adopt_in_the_notebook(shell, claw_env, tmp_path, capsys):
    from claw_nb.lab import statistics
    from claw_nb.lab.optimize.sweep_grid import with_fragments
    from claw_nb.lab.store import load_results
    from claw_nb.prompts import template_text
    from claw_nb.testing.lab_demo import HABIT_WRITE, demo_task_specs, scripted_agent

    claw_env.server.default = scripted_agent
    tasks = tmp_path / "demo.json"
    tasks.write_text(json.dumps(demo_task_specs(3)))
    write = tmp_path / "write.toml"
    prompt = with_fragments(template_text("default"), [HABIT_WRITE])
    write.write_text(f"system_prompt = {json.dumps(prompt)}\n")
    flag = " --unsandboxed" if UNSANDBOXED else ""
    cmp = shell.run_line_magic(
        "claw",
        f"lab optimize compare {tasks} --variant base --variant write={write} --name nb{flag}",
    )
    out = capsys.readouterr().out
    assert out.startswith("compare 'nb': 2 variants x 3 tasks x 1 repeat(s) = 6 trials")
    assert "write / demo-amber #0: reward 1" in out and "nb: [" in out  # the text lab view
    expected = statistics.leaderboard(load_results(claw_env.db, "nb"), baseline="base")
    board = cmp.leaderboard()
    assert list(board["variant"]) == ["write", "base"]
    assert board["pass_rate"].tolist() == expected["pass_rate"].tolist() == [2 / 3, 0.0]
    assert board["p_value"].iloc[0] == expected["p_value"].iloc[0] == 0.5  # McNemar, 2 of 3

    assert shell.run_line_magic("claw", "lab optimize show nb") is None
    shown = capsys.readouterr().out
    assert shown.startswith("compare run 'nb' (done") and "best: write" in shown
    runs = shell.run_line_magic("claw", "lab optimize show")
    assert runs[["run", "kind", "status"]].values.tolist() == [["nb", "compare", "done"]]
    shell.run_line_magic("claw", "lab optimize adopt nb --as nbwrite")
    assert "adopted: wrote" in capsys.readouterr().out
    assert HABIT_WRITE in (claw_env.workspace / ".claw/prompts/nbwrite.md").read_text()
    assert (claw_env.workspace / ".claw/prompts/nbwrite.toml").is_file()


def test_lab_optimize_errors_are_one_line_and_help_lists_every_verb(shell, tmp_path, capsys):
    from IPython.core.error import UsageError

    from claw_nb.lab.optimize.command_options import OPTIONS, VERBS

    for words, message in (
        ("lab optimize adopt nope", "no optimizer run 'nope'"),
        ("lab optimize show nope", "no optimizer run 'nope'"),
        ("lab optimize compare builtin --variant a --variant b=nope.toml", "nope.toml"),
        ("lab optimize reflect builtin --budget 2", "--budget 2 is below one round"),
        ("lab optimize frobnicate", "%claw lab"),
    ):
        with pytest.raises(UsageError, match=message) as caught:
            shell.run_line_magic("claw", words)
        assert "\n" not in str(caught.value)
    shell.run_line_magic("claw", "lab optimize help")
    text = capsys.readouterr().out
    assert all(f"%claw lab optimize {verb}:" in text for verb in VERBS)
    assert all(option.usage() in text for option in OPTIONS)


def test_a_lab_view_starts_its_counters_again_for_each_run_of_an_optimizer():
    from claw_nb.jupyter.lab_view import WidgetLabView
    from claw_nb.lab.trials import TrialResult

    view = WidgetLabView()
    for run, n in (("search", 3), ("held-out", 2)):
        view.start(run, total=n, skipped=0, slots=1)
        for i in range(n):
            view.finished(
                TrialResult(
                    run, "v", f"t{i}", 0, 1.0, True, "completed", 1, 1, 1, 0.1, 0, None, None, ""
                )
            )
        view.refresh()
        assert (view.bar_widget.value, view.bar_widget.max) == (n, n)
    view.end(stopped=False)
    assert len(view.latest_board) == 1 and view.latest_board["trials"].tolist() == [2]


def test_lab_optimize_reflect_in_the_notebook_prints_its_steps(shell, claw_env, tmp_path, capsys):
    pytest.importorskip("gepa", reason="reflect needs the optional gepa package ([optimize])")
    from claw_nb.testing.lab_demo import demo_task_specs, scripted_reflection

    claw_env.server.default = scripted_reflection(["write"])
    specs = [s for s in demo_task_specs(18) if s["difficulty"] != "hard"]
    tasks = tmp_path / "easy.json"
    tasks.write_text(json.dumps(specs))
    names = [s["name"] for s in specs]
    split = tmp_path / "split.toml"
    split.write_text(f"train = {names[:3]}\nval = {names[3:5]}\nheld_out = {names[5:]}\n")
    flag = " --unsandboxed" if UNSANDBOXED else ""
    result = shell.run_line_magic(
        "claw",
        f"lab optimize reflect {tasks} --split {split} --budget 10 --held-out-repeats 1 "
        f"--name nbr{flag}",
    )
    out = capsys.readouterr().out
    assert out.startswith("reflect 'nbr': 24 rollouts (10 search + 14 held-out check)")
    assert "reflect: validation score 1.00 (best so far 1.00) after 10 rollouts" in out
    assert "nbr/held-out: [" in out  # the held-out check in the lab view
    assert result.holds and result.held_out.wins == 7
