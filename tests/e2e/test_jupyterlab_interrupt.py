"""JupyterLab's interrupt button stops a %%claw run that waits for a silent model (Chromium).

The reflex of every Jupyter user: the toolbar's stop button (Kernel > Interrupt). The scripted
model holds its reply (a local model reading a long prompt) and is never released before the
click: the run must end, and close its request, while the reply is still held. It uses the
JupyterLab server, scripted server and browser fixtures of tests/e2e/test_jupyterlab.py; the
screenshot goes to tests/out/e2e_interrupt.png.
"""

from __future__ import annotations

import threading

import pytest

from claw_nb.testing import hold, text
from tests.e2e.lab import shot as _shot
from tests.e2e.test_jupyterlab import (  # noqa: F401 - fixtures used by name
    _cell,
    _open_notebook,
    _run_cell,
    _write_notebook,
    lab_env,
)

pytestmark = pytest.mark.slow

INTERRUPT = '.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]'


def test_the_interrupt_button_stops_a_run_waiting_for_a_silent_model(lab_env, page):  # noqa: F811
    from playwright.sync_api import expect

    server, root, lab = lab_env
    arrived, gate = threading.Event(), threading.Event()

    def reply(request):
        arrived.set()
        return hold(gate, text("the reply, too late"))

    server.queue(reply)
    _write_notebook(
        root / "interrupt.ipynb",
        ["%load_ext claw_nb", "%%claw\nsummarise this very long document", "print(6 * 7)"],
    )
    try:
        _open_notebook(page, lab, "interrupt.ipynb")
        _run_cell(page, 0)
        _run_cell(page, 1)
        transcript = _cell(page, 1).locator(".claw-transcript")
        state = transcript.locator(".claw-state")
        assert arrived.wait(120)  # the model has the request and says nothing
        expect(state).to_have_text("running")
        page.locator(INTERRUPT).first.click()
        expect(state).to_have_text("stopped by you", timeout=15_000)
        assert server.client_left.wait(10)  # the request was closed ...
        assert not gate.is_set()  # ... while the model had not answered
        _run_cell(page, 2)  # the kernel is fine and runs the next cell
        _cell(page, 2).locator(".jp-OutputArea-output").filter(has_text="42").wait_for()
        _shot(page, "e2e_interrupt.png")
    finally:
        gate.set()
