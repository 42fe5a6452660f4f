"""`%claw lab` in a real IPython shell (text view, as under nbconvert), against the scripted
model server."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply
from tests.lab.test_runner import UNSANDBOXED


def base_and_solver_run(shell, claw_env, folder: Path, experiment: str):
    """`%claw lab run` of the first two tasks, variants base and solver (which solves them)."""
    claw_env.server.default = solver_reply
    tasks = folder / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:2]))
    solver = folder / "solver.toml"
    solver.write_text(f"system_prompt = {json.dumps(SOLVER_PROMPT)}\n")
    flag = " --unsandboxed" if UNSANDBOXED else ""
    return shell.run_line_magic(
        "claw",
        f"lab run {tasks} --variant base --variant solver={solver} --experiment {experiment}{flag}",
    )


def test_lab_run_prints_progress_and_a_leaderboard_then_report(
    shell, claw_env, tmp_path: Path, capsys
):
    exp = base_and_solver_run(shell, claw_env, tmp_path, "nb")
    out = capsys.readouterr().out
    assert "solver / write-hello #0: reward 1" in out
    assert "base / fix-number #0: reward 0" in out
    assert "nb: [" in out and "4/4" in out
    assert "pass rate" in out and "95% CI" in out  # the readable leaderboard closes the run
    assert sorted((r.variant, r.reward) for r in exp.results()) == [
        ("base", 0.0),
        ("base", 0.0),
        ("solver", 1.0),
        ("solver", 1.0),
    ]
    report = shell.run_line_magic("claw", "lab report nb")
    assert list(report.frame["variant"]) == ["solver", "base"]


def test_interrupting_the_kernel_stops_a_lab_run_at_its_next_safe_point(
    shell, claw_env, tmp_path: Path, capsys, monkeypatch
):
    from claw_nb.jupyter import lab_magic
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

    monkeypatch.setattr(lab_magic, "StopToken", SeenToken)

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


def result(task: str, reward: float, stop_reason: str = "completed", variant: str = "v"):
    from claw_nb.lab.trials import TrialResult

    return TrialResult(
        "w", variant, task, 0, reward, reward == 1.0, stop_reason, 2, 10, 5, 1.0, 0, None, None, ""
    )


def test_widget_view_shows_each_trials_state_with_times_and_the_leaderboard():
    from claw_nb.jupyter.lab_view import WidgetLabView
    from claw_nb.lab.trials import TrialProgress

    view = WidgetLabView()
    view.start("w", total=6, skipped=1, slots=2)
    view.queue([("w", "v", t, 0) for t in ("t1", "t2", "t3", "t4", "t5")])
    view.update(TrialProgress(("w", "v", "t1", 0), step=3, tokens=1234, started=0.0))
    view.refresh()
    table = view.trials_html.value
    assert "v / t1 #0" in table and "running (step 3)" in table and "1,234" in table
    assert table.count(">queued<") == 4 and "4 queued, 1 running" in view.counts_html.value
    view.update(
        TrialProgress(("w", "v", "t1", 0), 3, 1234, 0.0, phase="verifying", phase_started=1e18)
    )
    view.refresh()
    assert ">verifying<" in view.trials_html.value and "1 verifying" in view.counts_html.value
    for task, reward, reason in (
        ("t1", 1.0, "completed"),
        ("t2", 0.0, "max_steps"),
        ("t3", 0.0, "model_unreachable"),
        ("t4", 0.0, "stuck"),
        ("t5", 1.0, "completed"),
    ):
        view.finished(result(task, reward, reason))
    view.end(stopped=False)
    table = view.trials_html.value
    assert "failed (max steps)" in table and "error (model unreachable)" in table
    assert ">stuck<" in table and table.count(">passed (completed)<") == 2
    assert "1.0 s" in table  # each finished trial's wall time
    assert view.counts_html.value == "2 passed, 1 failed, 1 error, 1 stuck"
    assert (view.bar_widget.value, view.bar_widget.max) == (5, 5)
    assert view.bar_widget.bar_style == "success" and view.stop_button.layout.display == "none"
    assert view.latest_board["pass_rate"].tolist() == [pytest.approx(2 / 5)]
    assert "95% CI" in view.board_html.value and "<svg" in view.board_html.value


def test_a_stopped_run_shows_its_unrun_trials_as_stopped_and_how_to_resume():
    from claw_nb.jupyter.lab_view import WidgetLabView

    clicks = []
    view = WidgetLabView(stop=lambda: clicks.append(1), resume="run it again")
    assert view.stop_button.layout.display == ""  # a background run has a Stop button
    view.start("w", total=2, skipped=0, slots=1)
    view.queue([("w", "v", "t1", 0), ("w", "v", "t2", 0)])
    view.finished(result("t1", 1.0))
    view.stop_button.click()
    assert clicks == [1] and view.stop_button.disabled
    view.end(stopped=True)
    assert "1 passed, 1 stopped" == view.counts_html.value
    assert "stopped; run it again" in view.status.value
    assert view.bar_widget.bar_style == "warning"


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
    from IPython.lib.pretty import pretty

    shown = pretty(cmp)  # the cell's Out: rounded, explained
    assert "66.7%" in shown and "95% CI" in shown and "nan" not in shown.lower()
    assert "pass rate" not in out  # the view left the leaderboard to the Out

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

    view = WidgetLabView()
    for run, n in (("search", 3), ("held-out", 2)):
        view.start(run, total=n, skipped=0, slots=1)
        for i in range(n):
            view.finished(result(f"t{i}", 1.0))
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


def test_lab_help_prints_every_command_and_option_without_a_traceback(shell, capsys):
    from claw_nb.lab.command_options import commands_for, options_for

    for words in ("lab help", "lab", "lab --help", "lab -h"):
        assert shell.run_line_magic("claw", words) is None
        text = capsys.readouterr().out
        for command in commands_for("notebook"):
            assert f"%claw lab {command.name}" in text
            assert all(o.usage() in text for o in options_for(command.name, "notebook"))
    for words in ("lab run --help", "lab run -h", "lab help run", "lab run builtin --help"):
        shell.run_line_magic("claw", words)
        text = capsys.readouterr().out
        assert text.startswith("%claw lab run TASKS: run variants on tasks")
        assert "--per-task" not in text and "--model MODEL" in text and "--no-wait" in text
    shell.run_line_magic("claw", "lab optimize compare --help")
    assert "%claw lab optimize compare:" in capsys.readouterr().out
    shell.run_line_magic("claw", "help")
    assert "%claw lab run|report|check|plan|stop|fork|fork-failures|optimize|help" in (
        capsys.readouterr().out
    )


def _flags(parser, *path: str) -> set[str]:
    import argparse

    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
        getattr(parser, "_built", lambda: None)()  # the CLI adds `lab`'s commands when chosen
    return {flag for a in parser._actions for flag in a.option_strings} - {"-h", "--help"}


def test_the_cli_and_the_magic_take_the_same_lab_options_from_one_table():
    from claw_nb.cli import build_parser
    from claw_nb.jupyter.lab_magic import _parser
    from claw_nb.lab.command_options import commands_for

    cli, notebook = build_parser(), _parser()
    for command in commands_for("cli"):
        if "notebook" not in command.shells:
            continue  # the terminal's alone, as the table says
        cli_flags = _flags(cli, "lab", command.name)
        nb_flags = _flags(notebook, command.name)
        assert cli_flags <= nb_flags, command.name  # nothing the terminal takes is missing
        assert nb_flags - cli_flags <= {"--wait", "--no-wait", "--all"}, command.name
    assert {"--model", "--api-base", "--api-key", "--db"} <= _flags(notebook, "run")
    assert "--per-task" in _flags(notebook, "report")


def test_model_and_server_options_of_a_lab_run_reach_its_trials(shell, claw_env, tmp_path):
    claw_env.server.default = solver_reply
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:1]))
    shell.run_line_magic("claw", "config api_base=http://127.0.0.1:9")  # nothing listens there
    other = tmp_path / "other.duckdb"
    flag = " --unsandboxed" if UNSANDBOXED else ""
    exp = shell.run_line_magic(
        "claw",
        f"lab run {tasks} --experiment opts --model openai/other-model "
        f"--api-base {claw_env.server.url} --db {other}{flag}",
    )
    requests = claw_env.server.requests
    assert requests and {r["model"] for r in requests} == {"other-model"}
    assert exp.db_path == other and [r.stop_reason for r in exp.results()] == ["completed"]


def test_lab_report_is_readable_with_every_column_one_flag_away(shell, claw_env, tmp_path, capsys):
    base_and_solver_run(shell, claw_env, tmp_path, "rep")
    report = shell.run_line_magic("claw", "lab report rep --per-task")
    assert len(report.table.columns) <= 12 and "95% CI" in report.table.columns
    assert report.table["pass rate"].tolist() == ["100%", "0%"]
    html = report._repr_html_()
    assert "<svg" in html and "mean reward per task" in html and "small sample" in html
    assert "..." not in report.text()
    everything = shell.run_line_magic("claw", "lab report rep --all")
    assert {"p_value", "diff_lo", "tool_error_rate", "interval"} <= set(everything.columns)
    assert len(everything.columns) > 20
