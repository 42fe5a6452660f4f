"""`%claw undo`, `%claw rewind` and "Undo this run" in a real IPython shell, against the scripted
model server: files (file tools, a command's `sed -i`, a new file, a notebook cell) and turns."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from claw_nb.jupyter.magics import ClawMagics
from claw_nb.testing import call, text, tool_calls
from tests.notebook_shell import claw_shell


@pytest.fixture
def shell(claw_env, private_cache, monkeypatch):
    """tests/conftest.py's shell, with a user cache of the test's own (`widget_shell` too)."""
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


def magics(sh) -> ClawMagics:
    return sh.magics_manager.registry["ClawMagics"]


def user_turns(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_undo_takes_back_the_last_run_files_and_turns(shell, claw_env, capsys):
    ws = claw_env.workspace
    (ws / "conf.ini").write_text("debug = false\n")
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "first.txt", "content": "1"})),
        text("first done"),
        tool_calls(call("run_command", {"command": "sed -i s/false/true/ conf.ini"})),
        tool_calls(call("write_file", {"path": "second.txt", "content": "2"})),
        text("second done"),
        text("third answered"),
    )
    shell.run_cell_magic("claw", "--mode auto", "task one")
    shell.run_cell_magic("claw", "--mode auto", "task two")
    assert (ws / "conf.ini").read_text() == "debug = true\n"
    capsys.readouterr()

    shell.run_line_magic("claw", "undo")

    assert (ws / "conf.ini").read_text() == "debug = false\n"
    assert not (ws / "second.txt").exists() and (ws / "first.txt").exists()
    out = capsys.readouterr().out
    assert "undid the last run (back to step 2)" in out
    assert "restored      conf.ini" in out and "deleted       second.txt" in out
    shell.run_cell_magic("claw", "--mode auto", "task three")
    assert user_turns(claw_env.server.requests[-1]) == ["task one", "task three"]


def test_undo_restores_a_notebook_cell_edited_by_the_notebook_tools(shell, claw_env):
    nb = {
        "cells": [{"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Title"]}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    original = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = claw_env.workspace / "report.ipynb"
    path.write_text(original)
    claw_env.server.queue(
        tool_calls(call("notebook_read", {"path": "report.ipynb"})),
        tool_calls(
            call(
                "notebook_edit",
                {"path": "report.ipynb", "mode": "insert", "source": "x = 1"},
            )
        ),
        text("added a cell"),
    )
    shell.run_cell_magic("claw", "--mode auto", "add a cell")
    assert len(json.loads(path.read_text())["cells"]) == 2

    shell.run_line_magic("claw", "undo")

    assert path.read_text() == original


def test_a_file_the_user_changed_after_the_run_is_reported_not_overwritten(shell, claw_env, capsys):
    ws = claw_env.workspace
    (ws / "a.py").write_text("original\n")
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.py", "content": "agent's\n"})), text("ok")
    )
    shell.run_cell_magic("claw", "--mode auto", "rewrite a.py")
    (ws / "a.py").write_text("the user's\n")
    capsys.readouterr()

    shell.run_line_magic("claw", "undo")

    assert (ws / "a.py").read_text() == "the user's\n"
    assert "conflict      a.py: changed since step 1 by someone else" in capsys.readouterr().out
    shell.run_line_magic("claw", "rewind --force")
    assert (ws / "a.py").read_text() == "original\n"


def test_rewind_keep_files_cuts_only_the_conversation(shell, claw_env, capsys):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "kept.txt", "content": "k"})),
        text("done"),
        text("fresh start"),
    )
    shell.run_cell_magic("claw", "--mode auto", "make kept.txt")

    shell.run_line_magic("claw", "rewind --to-step 0 --keep-files")

    assert (claw_env.workspace / "kept.txt").exists()
    assert "rewound to step 0, files kept as they are" in capsys.readouterr().out
    shell.run_cell_magic("claw", "--mode auto", "again")
    assert user_turns(claw_env.server.requests[-1]) == ["again"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("undo", "no conversation yet"),
        ("rewind --to-step two", "--to-step takes a step number"),
        ("rewind --everything", "unknown option '--everything'"),
        ("undo now", "takes no arguments"),
    ],
)
def test_bad_undo_and_rewind_are_one_line(shell, line, message):
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("claw", line)


def test_the_undo_button_takes_back_its_run_and_only_the_latest(widget_shell, claw_env):
    ws = claw_env.workspace
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "one.txt", "content": "1"})),
        text("first"),
        tool_calls(call("run_command", {"command": "echo 2 > two.txt"})),
        text("second"),
    )
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "first")
    first = m.last_view
    widget_shell.run_cell_magic("claw", "--mode auto", "second")
    second = m.last_view
    assert m._queue.wait_idle(timeout=30)
    assert (ws / "two.txt").exists()

    first.undo_button.click()  # a later run continued the conversation: refused, said why
    assert (ws / "one.txt").exists() and not first.undo_button.disabled
    assert "%claw rewind --to-step 0" in _notes(first)

    second.undo_button.click()
    assert not (ws / "two.txt").exists() and (ws / "one.txt").exists()
    assert second.undo_button.disabled
    assert "undid this run (back to step 2)" in _notes(second)
    assert "undid this run" in second.static_bundle["text/plain"]

    first.undo_button.click()  # now the latest run
    assert not (ws / "one.txt").exists()


def _notes(view) -> str:
    return " ".join(getattr(child, "value", "") for child in view.body.children)
