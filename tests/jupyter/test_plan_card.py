"""Plan mode in the notebook: the plan on a card, sent back with feedback, then approved."""

from __future__ import annotations

from functools import partial

from claw_nb.testing import call, text, tool_calls
from tests.helpers import wait_until
from tests.jupyter.test_magics import cell, magics

PLAN = "1. <b>write</b> notes.txt"


_wait = partial(wait_until, timeout=30.0)


def _tool_results(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_a_plan_is_sent_back_with_feedback_then_approved_into_accept_edits(widget_shell, claw_env):
    ws = claw_env.workspace
    claw_env.server.queue(
        tool_calls(call("exit_plan_mode", {"plan": PLAN})),
        tool_calls(call("exit_plan_mode", {"plan": PLAN + "\n2. test it"})),
        tool_calls(call("write_file", {"path": "notes.txt", "content": "done"})),
        text("wrote it"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "--mode plan", "write notes.txt")
    view = m.last_view
    _wait(lambda: len(view.approval.children) == 2)
    card = view.approval.children[0].value
    assert "Approve the plan?" in card
    assert "&lt;b&gt;write&lt;/b&gt;" in card and "<b>write</b>" not in card  # shown escaped
    approve, auto, keep, feedback = view.approval.children[1].children
    feedback.value = "add a test step"
    keep.click()
    _wait(lambda: len(view.approval.children) == 2 and "test it" in view.approval.children[0].value)
    view.approval.children[1].children[0].click()  # Approve, accept edits
    _wait(lambda: not m._busy())
    assert (ws / "notes.txt").read_text() == "done"  # the write after approval did not ask
    results = _tool_results(claw_env.server.requests[-1])
    assert "did not approve the plan: add a test step" in results[0]
    assert "approved your plan" in results[1]
    assert "completed" in view.status.value
