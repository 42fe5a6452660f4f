"""Subagents through `%%claw` in a real IPython shell: the text transcript and the widget nest
the child under its `task` call, the child's requests carry none of the cell's conversation,
its log rows name the parent, and Stop stops both."""

from __future__ import annotations

import json

import pytest

from claw_nb.jupyter.magics import ClawMagics
from claw_nb.log.store import connect
from claw_nb.testing import call, delay, text, tool_calls
from tests.helpers import ByTask
from tests.notebook_shell import keep_displays

TASK = {"description": "write notes", "prompt": "CHILDWORK: write notes.txt"}


@pytest.fixture
def widget_shell(widget_shell, monkeypatch):
    """tests/conftest.py's widget_shell: the last bundle shown under each display id is kept."""
    widget_shell.shown = keep_displays(monkeypatch)
    return widget_shell


def magics(sh) -> ClawMagics:
    return sh.magics_manager.registry["ClawMagics"]


def sessions(db):
    con = connect(db, read_only=True)
    try:
        return con.execute(
            "select session_id, parent_session_id, parent_call_id, stop_reason from sessions "
            "order by started_at"
        ).fetchall()
    finally:
        con.close()


def writing_child() -> ByTask:
    return ByTask(
        PARENTWORK=[tool_calls(call("task", TASK, id="call_task")), text("Parent: notes written.")],
        CHILDWORK=[
            tool_calls(call("write_file", {"path": "notes.txt", "content": "n\n"})),
            text("Child: wrote notes.txt."),
        ],
    )


def test_a_text_cell_nests_the_child_and_logs_it_linked(shell, claw_env, capsys):
    router = writing_child()
    claw_env.server.default = router
    shell.run_cell_magic("claw", "--mode accept-edits", "PARENTWORK: the password is swordfish")
    out = capsys.readouterr().out
    assert "subagent general-purpose: session" in out
    assert "   | -> write_file" in out and "   | Child: wrote notes.txt." in out
    assert "Parent: notes written." in out and out.rstrip().endswith("(completed) after 2 steps")
    assert "notes.txt" in json.dumps(router.requests["PARENTWORK"][1]["messages"][-1])
    for request in router.requests["CHILDWORK"]:
        assert "swordfish" not in json.dumps(request["messages"])
    assert (claw_env.workspace / "notes.txt").read_text() == "n\n"
    (parent, none, _, done), (child, linked, call_id, child_done) = sessions(claw_env.db)
    assert none is None and linked == parent and call_id == "call_task"
    assert done == child_done == "completed"
    assert magics(shell).agent.session_id == parent  # the cell's conversation stays the parent's


def test_the_widget_shows_the_child_in_a_box_that_folds_when_it_ends(widget_shell, claw_env):
    claw_env.server.default = writing_child()
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode accept-edits", "PARENTWORK: take notes")
    view = m.last_view
    assert m._queue.wait_idle(timeout=60)
    boxes = [c for c in view.body.children if "claw-subagent" in c._dom_classes]
    assert len(boxes) == 1
    box = boxes[0]
    assert box.titles[0] == "subagent general-purpose: write notes (completed)"
    assert box.selected_index is None  # folded once the child ended
    assert (
        "-&gt; write_file" in box.children[0].value
        and "Child: wrote notes.txt." in box.children[0].value
    )
    # the run's own view still ends with the parent: its answer, its state, the task card
    assert "completed" in view.status.value
    cards = [c.value for c in view.body.children if "claw-tool" in getattr(c, "_dom_classes", ())]
    assert len(cards) == 1 and "task" in cards[0] and "Child: wrote notes.txt." in cards[0]
    static = widget_shell.shown[f"claw-static-{view.run_id}"]
    assert '<details class="claw-subagent"' in static["text/html"]
    assert "subagent general-purpose: write notes (completed)" in static["text/plain"]
    assert "  | " in static["text/plain"] and "Parent: notes written." in static["text/markdown"]


def test_stop_in_the_widget_stops_the_child_and_the_parent(widget_shell, claw_env):
    router = ByTask(
        PARENTWORK=[tool_calls(call("task", TASK, id="call_task")), text("never asked")],
        CHILDWORK=[delay(1.0, tool_calls(call("list_files", {}))), text("never asked")],
    )
    claw_env.server.default = router
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode accept-edits", "PARENTWORK: take notes")
    view = m.last_view
    assert router.arrived["CHILDWORK"].wait(30)  # the child is waiting for its model
    view.stop_button.click()  # the child stops at its next safe point, and so does the parent
    assert m._queue.wait_idle(timeout=30)
    assert len(router.requests["CHILDWORK"]) == 1 and len(router.requests["PARENTWORK"]) == 1
    assert [reason for *_, reason in sessions(claw_env.db)] == ["interrupted", "interrupted"]
    assert "stopped by you" in view.status.value
