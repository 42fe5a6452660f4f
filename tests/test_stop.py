"""The stop token: stopping a parent stops its children, never the other way round."""

from __future__ import annotations

import signal
import threading

import pytest

from claw_nb.stop import CTRL_C, Stopped, StopToken, sigint_stops


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


def test_under_sigint_stops_a_first_ctrl_c_stops_the_token_and_a_second_raises():
    token = StopToken()
    before = signal.getsignal(signal.SIGINT)
    with sigint_stops(token):
        signal.raise_signal(signal.SIGINT)
        assert token.wait(timeout=30) and token.reason == CTRL_C
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_sigint_stops_leaves_the_handler_alone_off_the_main_thread():
    seen = []

    def worker():
        with sigint_stops(StopToken()):
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert seen == [signal.default_int_handler]
