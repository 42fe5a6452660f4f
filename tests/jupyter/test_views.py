"""What the notebook shows: the static copy, readable tables, help, escape codes, one-line
questions, the background import. The browser side is tests/e2e."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from functools import partial

import pytest

from claw_nb.testing import call, text, tool_calls
from tests.helpers import wait_until
from tests.notebook_shell import keep_displays


def magics(sh):
    return sh.magics_manager.registry["ClawMagics"]


@pytest.fixture
def widget_shell(widget_shell, monkeypatch):
    """tests/conftest.py's widget_shell, what it would display kept by display id (each id
    shown once, then only updated)."""
    widget_shell.shown = keep_displays(monkeypatch, check_updates=True)
    return widget_shell


_wait = partial(wait_until, timeout=20.0)


# -- the static copy ------------------------------------------------------------------------


def test_a_widget_run_leaves_a_static_copy_of_the_whole_transcript(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}),
            content="Editing.",
        ),
        text("Changed **x**:\n\n```python\nx = 2\n```"),
    )
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode accept-edits", "set x to 2")
    view = m.last_view
    static_id = f"claw-static-{view.run_id}"
    start = widget_shell.shown[static_id]
    assert "interrupted: the kernel stopped before this run ended" in start["text/plain"]
    _wait(lambda: not m._busy())
    final = widget_shell.shown[static_id]
    html, markdown, plain = final["text/html"], final["text/markdown"], final["text/plain"]
    assert "interrupted" not in plain and "completed" in plain
    assert "edit_file" in html and "+x = 2" in html and "<strong>x</strong>" in html
    assert "```diff" in markdown and "Changed **x**" in markdown
    assert "a.py (edited, +1 -1)" in plain and "set x to 2" in plain
    assert f"claw-live-{view.run_id}" in html  # the style that hides it next to the live widget
    assert widget_shell.shown[f"claw-js-{view.run_id}"] == {"text/plain": ""}  # no script left


def test_a_failed_run_says_so_in_its_static_copy(widget_shell, claw_env, monkeypatch):
    monkeypatch.setenv("CLAW_API_BASE", "http://127.0.0.1:9/v1")  # nothing listens there
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "hello")
    view = m.last_view
    _wait(lambda: not m._busy(), timeout=60)
    plain = widget_shell.shown[f"claw-static-{view.run_id}"]["text/plain"]
    assert "interrupted: the kernel" not in plain
    assert "unreachable" in plain or "failed" in plain


def test_the_waiting_time_for_a_person_is_not_in_the_card_duration(widget_shell, claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "w.txt", "content": "w"})), text("ok")
    )
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "", "write w.txt")
    view = m.last_view
    _wait(lambda: len(view.approval.children) == 2)
    assert "waiting for you" in view.status.value
    time.sleep(1.5)
    view.approval.children[1].children[0].click()
    _wait(lambda: not m._busy())
    card = next(c.value for c in view.body.children if "write_file" in getattr(c, "value", ""))
    shown = re.search(r"ok \u00b7 ([\d.]+) (ms|s)", card)
    assert shown is not None, card
    seconds = float(shown.group(1)) / (1000 if shown.group(2) == "ms" else 1)
    assert seconds < 1.0  # the write's own time, not the 1.5 s spent waiting for a person


# -- pieces ---------------------------------------------------------------------------------


def test_escape_codes_are_dropped_and_control_characters_shown():
    from claw_nb.textsafe import show

    assert show("\x1b[32mPASSED\x1b[0m 3 tests\x07\r\n") == "PASSED 3 tests\\a\n"
    # anything beyond colour is shown, not obeyed (issue 10: titles, clipboard, cursor moves)
    assert show("\x1b]0;title\x07tab\there") == "\\e]0;title\\atab\there"


def test_retry_lines_and_stop_reasons_are_in_words():
    from claw_nb.jupyter.widget_html import retry_words, stop_words

    why = (
        "attempt 1 failed (litellm.InternalServerError: OpenAIException - Error code: 500 - "
        "{'error': 'boom'}); retrying in 2.0s"
    )
    assert retry_words(why, 4) == "server error 500, retrying in 2 s (1/4)"
    assert retry_words("attempt 2 failed (Connection refused); retrying in 0.5s", 3) == (
        "cannot reach the model server, retrying in 0.5 s (2/3)"
    )
    assert stop_words("interrupted") == "stopped by you"
    assert stop_words("max_steps") == "stopped at the step limit"


def test_every_stop_reason_has_words_a_person_says():
    from claw_nb.jupyter.widget_html import STOP_WORDS, stop_words
    from claw_nb.outcomes import StopReason

    assert stop_words("model_timeout") == "model timed out"  # was shown as "model timeout"
    assert stop_words("context_length_exceeded") == "conversation too long for the model"
    assert set(STOP_WORDS) == set(StopReason)


def test_new_file_line_counts_are_taken_before_the_diff_is_clipped(tmp_path):
    from claw_nb import events as ev
    from claw_nb.jupyter.changes import MAX_DIFF_LINES, ChangeTracker

    tracker = ChangeTracker()
    tracker.workspace = str(tmp_path)
    args = {"path": "big.py", "content": "x\n" * 179}
    tracker.started(ev.ToolCallStarted("s", 1, "c1", "write_file", args, json.dumps(args)))
    (tmp_path / "big.py").write_text(args["content"])
    change = tracker.finished(
        ev.ToolCallFinished(
            "s", 1, "c1", "write_file", args, json.dumps(args), ok=True, result="ok"
        )
    )
    assert change.label() == "big.py (new, +179 -0)"
    assert len(change.diff.splitlines()) == MAX_DIFF_LINES + 1  # the shown diff is clipped


def test_a_notebook_edit_approval_shows_the_cell_before_and_after(tmp_path):
    from claw_nb.jupyter.changes import preview_change

    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": "abc",
                "source": ["x = 1\n", "print(x)"],
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    diff = preview_change(
        tmp_path,
        "notebook_edit",
        {"path": "n.ipynb", "cell_id": "abc", "source": "x = 2\nprint(x)"},
    )
    assert "-x = 1" in diff and "+x = 2" in diff and " print(x)" in diff
    by_index = preview_change(
        tmp_path, "notebook_edit", {"path": "n.ipynb", "index": 0, "mode": "delete"}
    )
    assert "-print(x)" in by_index
    insert = preview_change(
        tmp_path, "notebook_edit", {"path": "n.ipynb", "mode": "insert", "source": "y = 3"}
    )
    assert "+y = 3" in insert


def test_help_lists_every_option_of_the_parser(shell, capsys):
    from claw_nb.jupyter.magics import ClawMagics

    shell.run_line_magic("claw", "help")
    out = capsys.readouterr().out
    flags = [
        s
        for a in ClawMagics.claw.parser._actions
        for s in a.option_strings
        if s.startswith("--") and s != "--help"
    ]
    assert flags and all(flag in out for flag in flags)


def test_a_one_line_question_runs_the_task_not_the_help_lookup(shell, claw_env, capsys):
    claw_env.server.queue(text("Because it sorts twice."))
    shell.run_cell("%claw --mode auto why is this slow?")
    out = capsys.readouterr().out
    assert "Because it sorts twice." in out
    sent = [m["content"] for m in claw_env.server.requests[0]["messages"] if m["role"] == "user"]
    assert sent == ["why is this slow?"]


def test_a_question_mark_after_the_bare_magic_still_asks_for_its_help(shell, capsys):
    shell.run_cell("%claw?")
    assert "Run the coding agent" in capsys.readouterr().out


def test_sessions_and_log_are_readable_tables(shell, claw_env):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("done"))
    shell.run_cell_magic("claw", "--mode auto", "list the files\nplease")
    sessions = shell.run_line_magic("claw", "sessions")
    assert list(sessions.columns) == [
        "session_id",
        "started",
        "model",
        "task",
        "steps",
        "seconds",
        "ended",
    ]
    row = sessions.iloc[0]
    assert row["task"] == "list the files" and row["ended"] == "completed" and row["steps"] == 2
    assert 0 <= row["seconds"] < 120
    log = shell.run_line_magic("claw", "log")
    assert list(log["kind"]) == ["model", "tool", "model"]
    assert "NaN" not in log.to_string() and "<NA>" not in log.to_string()
    assert all(isinstance(s, float) and s < 60 for s in log["seconds"])  # seconds, not µs
    assert "in /" in log["tokens"].iloc[0]
    wide = shell.run_line_magic("claw", "log --all")
    assert "prompt_tokens" in wide.columns


def test_config_shows_the_sandbox_and_the_notebook_mode(shell, capsys):
    shell.run_line_magic("claw", "config")
    out = capsys.readouterr().out
    assert "\nsandbox " in out and "\nnotebook " in out
    assert "(unknown" not in out


# -- the model layer loads in the background --------------------------------------------------


def test_load_ext_in_a_kernel_starts_the_model_layer_import_in_the_background():
    """A real kernel: %load_ext returns at once, LiteLLM arrives on a daemon thread."""
    jupyter_client = pytest.importorskip(
        "jupyter_client", reason="a real kernel needs jupyter_client (in the [test] extra)"
    )
    code = textwrap.dedent("""
        import sys, threading, time
        t = time.perf_counter()
        get_ipython().run_line_magic("load_ext", "claw_nb")
        took = time.perf_counter() - t
        names = [th.name for th in threading.enumerate()]
        end = time.monotonic() + 120
        while "litellm" not in sys.modules or not hasattr(sys.modules["litellm"], "completion"):
            assert time.monotonic() < end
            time.sleep(0.1)
        print(round(took, 3), "claw-preload" in names)
    """)
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        reply = kc.execute_interactive(code, timeout=180, output_hook=_collect(out := []))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    took, threaded = "".join(out).split()
    assert float(took) < 0.5 and threaded == "True"


def _collect(sink: list):
    def hook(msg):
        if msg["msg_type"] == "stream":
            sink.append(msg["content"]["text"])

    return hook


def test_the_header_says_loading_model_layer_until_the_import_is_done():
    from claw_nb.jupyter.run_status import RunStatus

    ready = [False]
    status = RunStatus(max_steps=5, model_layer_ready=lambda: ready[0])
    status.state = "running"
    assert "loading model layer" in status.header_html()
    ready[0] = True
    assert "waiting for model" in status.header_html()


def test_terminal_ipython_does_not_import_in_the_background_when_told_not_to():
    code = textwrap.dedent("""
        import sys, threading
        from IPython.core.interactiveshell import InteractiveShell
        sh = InteractiveShell.instance()
        sh.config.ClawMagics.preload = False
        sh.run_line_magic("load_ext", "claw_nb")
        print(any(t.name == "claw-preload" for t in threading.enumerate()))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "False", out.stderr


def test_a_todo_card_shows_the_plan_not_its_json(widget_shell, claw_env):
    todos = [
        {"content": "read the code", "status": "completed"},
        {"content": "fix the bug", "status": "in_progress"},
    ]
    claw_env.server.queue(tool_calls(call("todo_write", {"todos": todos})), text("planned"))
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "plan it")
    _wait(lambda: not m._busy())
    html = "".join(getattr(c, "value", "") for c in m.last_view.body.children)
    assert "[2 items]" in html and "fix the bug" in html  # the plan, as a list
    assert '"content"' not in html and "&quot;content&quot;" not in html  # no raw JSON
