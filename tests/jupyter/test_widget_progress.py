"""The notebook widget while the model writes a long tool call: the header says which tool and
how big, in place and throttled, and says so no more once the call has arrived. The static
copy never holds it. A real IPython shell and real ipywidgets; the model is the scripted server."""

from __future__ import annotations

import time
from functools import partial

import pytest

from claw_nb import events as ev
from claw_nb.testing import call, delay, text, tool_calls
from tests.helpers import wait_until
from tests.notebook_shell import keep_displays

WRITING = "model is writing a tool call"


@pytest.fixture
def widget_shell(widget_shell, monkeypatch):
    """tests/conftest.py's widget_shell, what it would display kept by display id."""
    widget_shell.shown = keep_displays(monkeypatch)
    return widget_shell


_wait = partial(wait_until, timeout=30.0, poll=0.01)


def test_the_header_names_the_tool_and_size_then_clears(widget_shell, claw_env):
    content = "all work and no play\n" * 2400  # ~50 kB, streamed 6 characters a chunk
    # ~12,500 tokens in one reply: above the default reply cap (the reply reserve)
    (claw_env.workspace / "pyproject.toml").write_text("[tool.claw]\nreply_token_cap = 20000\n")
    claw_env.server.queue(
        delay(1.0, tool_calls(call("write_file", {"path": "big.txt", "content": content}))),
        text("Written."),
    )
    m = widget_shell.magics_manager.registry["ClawMagics"]
    widget_shell.run_cell_magic("claw", "--mode auto", "write big.txt")
    view = m.last_view
    headers: list[str] = []
    rows: list[int] = []

    def seen(change):  # every header the front end is sent, and the rows it shows meanwhile
        headers.append(change["new"])
        rows.append(len(view.body.children))

    view.status.observe(seen, "value")  # the reply is held back a second: nothing missed
    _wait(lambda: not m._busy())
    assert (claw_env.workspace / "big.txt").read_text() == content
    writing = [i for i, h in enumerate(headers) if WRITING + ": write_file (" in h]
    assert writing, headers
    assert len({rows[i] for i in writing}) == 1  # in place: no transcript row per update
    assert WRITING not in headers[-1] and "completed" in headers[-1]
    static = widget_shell.shown[f"claw-static-{view.run_id}"]
    assert all(WRITING not in static[kind] for kind in ("text/plain", "text/html"))


def test_progress_updates_are_throttled_and_the_call_clears_them(widget_shell, claw_env):
    from claw_nb.jupyter.run_status import PROGRESS_SECONDS
    from claw_nb.jupyter.widget import WidgetTranscript

    view = WidgetTranscript("write big.txt")
    sent: list[str] = []
    view.status.observe(lambda change: sent.append(change["new"]), "value")
    view.run.state = "running"
    rows = len(view.body.children)

    def progress(chars: int) -> None:
        view(ev.ToolCallProgress("s1", step=1, index=0, tool="write_file", chars=chars))

    started = time.monotonic()
    progress(2400)
    assert WRITING + ": write_file (2.4 kB)" in view.status.value
    for chars in range(2500, 40_000, 500):  # 75 events at once: none sent until the interval
        progress(chars)
    if time.monotonic() - started < PROGRESS_SECONDS:
        assert len([h for h in sent if WRITING in h]) == 1
        assert "(2.4 kB)" in view.status.value
    time.sleep(PROGRESS_SECONDS)
    progress(41_000)
    assert "write_file (41.0 kB)" in view.status.value
    assert len(view.body.children) == rows  # the header only, no transcript rows
    view(ev.ToolCallStarted("s1", 1, "call_1", "write_file", {"path": "big.txt"}, "{}"))
    assert WRITING not in view.status.value and "running write_file" in view.status.value
    assert WRITING not in view._static(view.run.state)["text/plain"]


def test_a_tool_name_is_escaped_in_the_header(widget_shell):
    from claw_nb.jupyter.widget import WidgetTranscript

    view = WidgetTranscript("t")
    view.run.state = "running"
    view(ev.ToolCallProgress("s1", step=1, index=0, tool="<b>x</b>\x1b[2J", chars=10))
    assert "&lt;b&gt;x&lt;/b&gt;\\e[2J (10 chars)" in view.status.value
