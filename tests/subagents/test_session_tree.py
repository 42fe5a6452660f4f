"""Listeners tell their own run's events from a subagent's (`claw_nb.events.SessionTree`)."""

from __future__ import annotations

import io

from claw_nb import events as ev
from claw_nb.cli.printer import TextPrinter


def started(session_id, parent=None, call_id=None, agent=None):
    return ev.SessionStarted(
        session_id,
        "m",
        "/ws",
        "t",
        "p",
        "sha",
        parent_session_id=parent,
        parent_call_id=call_id,
        agent_name=agent,
    )


def test_the_first_session_is_the_listeners_own_and_children_nest_below_it():
    tree = ev.SessionTree()
    assert tree.child(started("top")) is None
    kid = tree.child(started("kid", "top", "c1", "scout"))
    deeper = tree.child(started("deeper", "kid", "c2"))
    assert (kid.depth, kid.top, kid.parent_call_id, kid.agent_name) == (1, "kid", "c1", "scout")
    assert (deeper.depth, deeper.top, deeper.parent_session_id) == (2, "kid", "kid")
    assert tree.child(ev.FinalAnswer("deeper", "x")) is deeper
    assert tree.child(ev.FinalAnswer("top", "x")) is None
    # a session that names a parent this listener never saw is not one of its children
    assert tree.child(started("stranger", "elsewhere")) is None


def test_quiet_prints_only_the_runs_own_answer_not_the_childs():
    out = io.StringIO()
    printer = TextPrinter(out=out, quiet=True)
    for event in (
        started("top"),
        started("kid", "top", "c1"),
        ev.FinalAnswer("kid", "child answer"),
        ev.SessionEnded("kid", "completed"),
        ev.FinalAnswer("top", "parent answer"),
    ):
        printer(event)
    assert out.getvalue() == "parent answer\n"
