"""`%claw lab fork` and `%claw lab fork-failures` in a real IPython shell, against the scripted
model server and a real DuckDB log holding failed trials to fork: the cell returns at once with
the live view (widgets as in JupyterLab) or waits (text), the forks end compared with their
originals with each fork's session id, the fork's session says what it forked, the Stop button
and `%claw lab stop` stop a running fork, `--slots` fans forks out as `%claw lab run` does,
and bad words are one line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.lib.pretty import pretty

from claw_nb.jupyter.magics import ClawMagics
from claw_nb.testing.lab_demo import HABIT_WRITE, looking_agent
from tests.lab.test_fork import demo_tasks, failed_session, query, run_base
from tests.lab.test_fork_executors import Together
from tests.lab.test_runner_stop import WAIT_S

TAUGHT_TOML = f'system_prompt = """You are an agent.\n{HABIT_WRITE}\n$tools\n"""\n'


def _shell(monkeypatch, workspace: Path, widgets: bool) -> InteractiveShell:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(ClawMagics, "_use_widgets", lambda self, ui: widgets and ui != "text")
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "claw_nb")
    return sh


@pytest.fixture
def widget_shell(claw_env, monkeypatch):
    sh = _shell(monkeypatch, claw_env.workspace, widgets=True)
    yield sh
    sh.run_line_magic("unload_ext", "claw_nb")


@pytest.fixture
def text_shell(claw_env, monkeypatch):
    sh = _shell(monkeypatch, claw_env.workspace, widgets=False)
    yield sh
    sh.run_line_magic("unload_ext", "claw_nb")


@pytest.fixture
def logged(claw_env):
    """The kernel's log with experiment 'base-exp': two failed trials (they fail at step 2);
    `taught.toml` beside the kernel (its working directory) teaches the missing habit."""
    tasks = demo_tasks(2)
    run_base(claw_env.server, claw_env.db, tasks)
    (claw_env.workspace / "taught.toml").write_text(TAUGHT_TOML)
    claw_env.server.clear_requests()
    return [failed_session(claw_env.db, t.name) for t in tasks]


class HeldForks:
    """The looking agent, but a fork's first request (it carries the taught prompt) waits
    until `release` is set."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: dict):
        if HABIT_WRITE in (request["messages"][0].get("content") or ""):
            self.reached.set()
            self.release.wait(WAIT_S)
        return looking_agent(request)


@pytest.fixture
def held(claw_env):
    replies = HeldForks()
    claw_env.server.default = replies
    yield replies
    replies.release.set()  # nothing stays held after a failed test


def test_a_fork_cell_returns_at_once_and_ends_with_the_fork_against_its_original(
    widget_shell, claw_env, logged, held
):
    original = logged[0]
    cell = widget_shell.run_cell(
        f"run = %claw lab fork {original[:8]} --at-step 2 --variant taught=taught.toml"
    )
    assert cell.success
    run = widget_shell.user_ns["run"]
    assert held.reached.wait(WAIT_S)  # the fork is at its first model call (step 2), held
    assert not run.done and run.status == "running"
    (row,) = run.view.trial_rows()
    assert row.state == "running" and row.step == 1 and row.label.startswith("taught / demo-")
    assert widget_shell.run_cell("answer = 6 * 7").success  # the kernel is free meanwhile
    assert run.view.stop_button.layout.display == ""  # a Stop button while it runs

    held.release.set()
    table = run.wait(WAIT_S)
    assert run.status == "done" and run.view.counts_html.value == "1 passed"
    (fork,) = table.forks
    assert fork.passed and (fork.forked_from, fork.fork_step) == (original, 2)
    # the fork's session says what it forked; its trial is in the forks' experiment
    rows = query(
        claw_env.db,
        "SELECT forked_from, fork_step FROM sessions WHERE session_id = ?",
        [fork.session_id],
    )
    assert rows == [(original, 2)]
    trials = query(
        claw_env.db, "SELECT experiment, passed FROM trials WHERE session_id = ?", [fork.session_id]
    )
    assert trials == [("base-exp-forks", True)]
    # the end: the fork next to its original, with the paired test and the small-sample flag
    board = run.view.board_html.value
    assert fork.session_id in board and original in board
    assert "exact McNemar" in board and "small sample" in board
    assert fork.session_id in run.view.steps_html.value  # the line it printed as it ended
    assert "base-exp-forks" in run.view.status.value and "done" in run.view.status.value


def test_fork_failures_in_a_text_cell_prints_each_fork_and_returns_the_comparison(
    text_shell, claw_env, logged, capsys
):
    claw_env.server.default = looking_agent
    table = text_shell.run_line_magic(
        "claw", "lab fork-failures base-exp --variant taught=taught.toml"
    )
    out = capsys.readouterr().out
    assert out.startswith(
        "fork-failures 'base-exp-forks': 2 failed trial(s) of base-exp, 1 fork(s) each, under taught"
    )
    assert out.count(": reward 1, passed") == 2  # the text view's line per finished fork
    assert len(table.forks) == 2 and {f.forked_from for f in table.forks} == set(logged)
    shown = pretty(table)  # the cell's Out
    assert all(f.session_id in shown and f.forked_from in shown for f in table.forks)
    comparison = table.comparison
    assert (comparison.wins, comparison.losses, comparison.method) == (2, 0, "exact McNemar")
    assert comparison.small_sample and "small sample" in shown
    # the same statistics line as `claw-nb lab fork-failures` prints
    assert "2 fork(s) of failed trials of base-exp under taught: 2 passed; fork vs original" in (
        shown
    )
    assert table.frame()["reward"].tolist() == [1.0, 1.0]
    forked = query(
        claw_env.db,
        "SELECT forked_from, fork_step FROM sessions WHERE forked_from IS NOT NULL "
        "ORDER BY forked_from",
    )
    assert forked == sorted((s, 2) for s in logged)


def test_the_stop_button_stops_a_running_fork(widget_shell, claw_env, logged, held):
    run = widget_shell.run_line_magic(
        "claw", f"lab fork {logged[0]} --at-step 2 --variant taught=taught.toml --repeats 2"
    )
    assert held.reached.wait(WAIT_S)
    run.view.stop_button.click()  # what the kernel does with the button's message
    assert run.token.wait(WAIT_S) and run.view.stop_button.disabled
    held.release.set()  # the held call returns; the agent stops at its next safe point
    table = run.wait(WAIT_S)
    assert run.status == "stopped" and table.stopped and table.forks == ()
    assert run.view.counts_html.value == "2 stopped"  # the cut fork and the one never started
    assert run.view.bar_widget.bar_style == "warning" and "stopped" in run.view.status.value
    # the cut fork keeps its session (marked as a fork) but is no trial; the second never ran
    cut = query(
        claw_env.db, "SELECT session_id, fork_step FROM sessions WHERE forked_from = ?", [logged[0]]
    )
    assert len(cut) == 1 and cut[0][1] == 2
    assert query(claw_env.db, "SELECT count(*) FROM trials WHERE experiment LIKE '%-forks'") == [
        (0,)
    ]
    firsts = [r for r in claw_env.server.requests if HABIT_WRITE in r["messages"][0]["content"]]
    assert len(firsts) == 1


def test_lab_stop_stops_fork_failures_and_no_queued_fork_starts(
    widget_shell, claw_env, logged, held, capsys
):
    run = widget_shell.run_line_magic(
        "claw", "lab fork-failures base-exp --variant taught=taught.toml"
    )
    assert held.reached.wait(WAIT_S)
    capsys.readouterr()
    widget_shell.run_line_magic("claw", "lab stop")
    assert "lab fork-failures 'base-exp-forks': stopping" in capsys.readouterr().out
    held.release.set()
    table = run.wait(WAIT_S)
    assert run.status == "stopped" and table.forks == ()
    assert "stopped before the end" in table.report.summary()
    assert run.view.counts_html.value == "2 stopped"
    assert len(query(claw_env.db, "SELECT 1 FROM sessions WHERE forked_from IS NOT NULL")) == 1


def test_interrupting_the_kernel_stops_a_fork_cell_that_waits(
    text_shell, claw_env, logged, held, capsys, monkeypatch
):
    import signal

    from claw_nb import stop as stop_module

    tokens = []

    class SeenToken(stop_module.StopToken):  # so the interrupter knows the cell's token stopped
        def __init__(self, parent=None):
            super().__init__(parent)
            tokens.append(self)

    monkeypatch.setattr(stop_module, "StopToken", SeenToken)

    def interrupt_the_kernel():
        held.reached.wait(WAIT_S)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        assert tokens and tokens[0].wait(WAIT_S)
        held.release.set()

    threading.Thread(target=interrupt_the_kernel, daemon=True).start()
    table = text_shell.run_line_magic(
        "claw", f"lab fork {logged[0]} --at-step 2 --variant taught=taught.toml"
    )
    assert table.stopped and table.forks == ()
    out = capsys.readouterr().out
    assert "stopped: the finished forks are in the log (base-exp-forks)" in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_fork_failures_with_slots_runs_forks_side_by_side(text_shell, claw_env, logged):
    together = Together()  # a fork's first request waits until the other's is there too
    claw_env.server.default = together
    table = text_shell.run_line_magic(
        "claw", "lab fork-failures base-exp --variant taught=taught.toml --slots 2"
    )
    assert together.met.is_set()  # both forks were at the model at once
    assert [f.passed for f in table.forks] == [True, True]
    assert {f.forked_from for f in table.forks} == set(logged)
    assert query(
        claw_env.db, "SELECT count(*) FROM trials WHERE experiment = ?", ["base-exp-forks"]
    ) == [(2,)]


def test_an_unreachable_ray_cluster_is_one_line(text_shell, claw_env, logged):
    import socket

    with socket.socket() as s:  # a port nobody listens at
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(UsageError, match="Ray") as caught:
        text_shell.run_line_magic(
            "claw", f"lab fork {logged[0]} --at-step 2 --variant taught=taught.toml --ray {address}"
        )
    assert "\n" not in str(caught.value)
    assert claw_env.server.requests == []  # nothing ran


def test_bad_words_are_one_line_before_anything_runs(
    text_shell, claw_env, logged, tmp_path, capsys
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("not a prompt\n")
    linked = claw_env.workspace / "linked"
    linked.mkdir()
    (linked / "prompt.md").symlink_to(outside / "secret.md")
    (linked / "v.toml").write_text('system_prompt_file = "prompt.md"\n')
    (claw_env.workspace / "broken.toml").write_text("system_prompt = \n")
    original = logged[0]
    for words, message in (
        ("lab fork nosuch --at-step 1 --variant taught=taught.toml", "no session 'nosuch'"),
        (f"lab fork {original} --at-step 3 --variant taught=taught.toml", "--at-step 3 is outside"),
        (f"lab fork {original} --at-step 0 --variant taught=taught.toml", "--at-step 0 is outside"),
        (f"lab fork {original} --variant taught=taught.toml", "--at-step"),
        (f"lab fork {original} --at-step 2", "--variant"),
        (f"lab fork {original} --at-step 2 --variant t=nope.toml", "nope.toml does not exist"),
        (f"lab fork {original} --at-step 2 --variant t=broken.toml", "broken.toml"),
        (f"lab fork {original} --at-step 2 --variant t=linked/v.toml", "refused"),
        (f"lab fork {original} --at-step x --variant taught=taught.toml", "invalid int"),
        (
            f"lab fork {original} --at-step 2 --variant taught=taught.toml --repeats 0",
            "--repeats must be at least 1",
        ),
        ("lab fork-failures nosuch --variant taught=taught.toml", "no experiment 'nosuch'"),
    ):
        with pytest.raises(UsageError, match=message) as caught:
            text_shell.run_line_magic("claw", words)
        assert "\n" not in str(caught.value), words
    assert claw_env.server.requests == []  # nothing ran
    assert query(claw_env.db, "SELECT count(*) FROM sessions WHERE forked_from IS NOT NULL") == [
        (0,)
    ]


def test_lab_help_lists_the_fork_verbs(text_shell, capsys):
    text_shell.run_line_magic("claw", "lab help")
    text = capsys.readouterr().out
    assert "%claw lab fork SESSION: replay a trial up to step K" in text
    assert "%claw lab fork-failures EXPERIMENT: fork every failed trial" in text
    assert "--at-step K" in text and "--experiment-name NAME" in text
    text_shell.run_line_magic("claw", "lab fork --help")
    text = capsys.readouterr().out
    assert text.startswith("%claw lab fork SESSION:") and "--no-wait" in text
    assert "--slots N" in text and "--ray ADDRESS" in text
    assert "fork-failures" not in text
