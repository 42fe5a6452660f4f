"""The stop token: stopping a parent stops its children, never the other way round."""

from __future__ import annotations

import threading

import pytest

from claw_nb.stop import Stopped, StopToken


def test_a_parent_stops_its_children_and_runs_their_callbacks_once():
    parent = StopToken()
    child, sibling = parent.child(), parent.child()
    grandchild = child.child()
    calls = []
    grandchild.on_stop(lambda: calls.append("grandchild"))
    parent.stop("lab stop")
    parent.stop("again")
    assert child.stopped and sibling.stopped and grandchild.stopped
    assert calls == ["grandchild"]
    assert grandchild.reason == "lab stop"
    with pytest.raises(Stopped, match="lab stop"):
        grandchild.raise_if_stopped()


def test_a_child_stops_alone_and_clears_alone():
    parent = StopToken()
    one, other = parent.child(), parent.child()
    one.stop()
    assert one.stopped and not other.stopped and not parent.stopped
    one.clear()
    assert not one.stopped
    parent.stop()
    one.clear()  # its own request is gone; the parent's still counts
    assert one.stopped and one()


def test_a_callback_registered_after_the_stop_runs_at_once_and_can_be_removed():
    token = StopToken()
    calls = []
    remove = token.on_stop(lambda: calls.append("late"))
    remove()
    token.stop()
    assert calls == []
    token.on_stop(lambda: calls.append("now"))
    assert calls == ["now"]
    child = token.child()  # born stopped
    assert child.stopped


def test_a_failing_callback_does_not_keep_the_others_from_running():
    token = StopToken()
    calls = []
    token.on_stop(lambda: 1 / 0)
    token.on_stop(lambda: calls.append("ran"))
    token.stop()
    assert calls == ["ran"]


def test_wait_returns_when_another_thread_stops_the_parent():
    parent = StopToken()
    child = parent.child()
    started = threading.Event()
    result = []

    def waiter():
        started.set()
        result.append(child.wait(timeout=30))

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    parent.stop()
    thread.join(timeout=30)
    assert result == [True]
    assert StopToken().wait(timeout=0.01) is False
