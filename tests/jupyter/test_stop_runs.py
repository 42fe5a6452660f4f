"""Stop ends a notebook run within moments in every state, waiting for a silent model
included: the widget's Stop button, `%claw stop`, the kernel's interrupt, Ctrl-C in a text run.

The scripted server holds its reply (`hold(gate, ...)`, a local model reading a long prompt)
and the test never opens the gate before the stop: each test proves the run ended, and the
server saw its request closed, while the reply was still held. The session's log row ends with
the stop reason.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time

import pytest

from claw_nb.testing import call, hold, text, tool_calls

SAFETY = 30.0  # a bound for a hang (the machine is shared), never the measurement


def magics(sh):
    return sh.magics_manager.registry["ClawMagics"]


def held_reply(server):
    """Queue a reply that says it arrived, then holds; (arrived, gate)."""
    arrived, gate = threading.Event(), threading.Event()

    def reply(request):
        arrived.set()
        return hold(gate, text("too late"))

    server.queue(reply)
    return arrived, gate


def finished(m) -> threading.Event:
    """Set when the widget run queue is idle again."""
    done = threading.Event()
    threading.Thread(target=lambda: m._queue.wait_idle(SAFETY) and done.set(), daemon=True).start()
    return done


def logged_stop_reason(db, session_id):
    from claw_nb.log.store import list_sessions

    frame = list_sessions(db)
    return frame.set_index("session_id").loc[session_id, "stop_reason"]


def test_the_stop_button_ends_a_run_waiting_for_a_silent_model(widget_shell, claw_env):
    arrived, gate = held_reply(claw_env.server)
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "a long prompt")
    assert arrived.wait(SAFETY)
    view = m.last_view
    done = finished(m)
    view.stop_button.click()
    assert done.wait(SAFETY)
    assert claw_env.server.client_left.wait(SAFETY)  # the request was closed ...
    assert not gate.is_set()  # ... while the model had not answered
    assert m.last_result.stop_reason == "interrupted"
    _until(lambda: "stopped by you" in view.status.value)  # the header follows the run's end
    assert logged_stop_reason(claw_env.db, m.last_result.session_id) == "interrupted"


def test_the_stop_button_kills_a_long_command(widget_shell, claw_env):
    started = claw_env.workspace / "started"
    claw_env.server.queue(
        tool_calls(call("run_command", {"command": "touch started; sleep 600"})), text("never")
    )
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "run the long job")
    _until(started.exists)  # the command runs
    view = m.last_view
    view.stop_button.click()
    assert finished(m).wait(SAFETY)  # not the 600 s of the command
    assert m.last_result.stop_reason == "interrupted"
    cards = " ".join(getattr(c, "value", "") for c in view.body.children)
    assert "stopped by the user" in cards
    assert len(claw_env.server.requests) == 1


def _until(predicate, timeout: float = SAFETY) -> None:
    """For a state only the file system shows (a command that started): looked at often."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_claw_stop_ends_the_run_and_cancels_the_queued_ones(widget_shell, claw_env, capsys):
    arrived, gate = held_reply(claw_env.server)
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "first")
    assert arrived.wait(SAFETY)
    widget_shell.run_cell_magic("claw", "--mode auto", "second, queued")
    queued = m.last_view
    done = finished(m)
    widget_shell.run_line_magic("claw", "stop")
    assert "stopping the run in progress; cancelled 1 queued run" in capsys.readouterr().out
    assert done.wait(SAFETY)
    assert claw_env.server.client_left.wait(SAFETY) and not gate.is_set()
    assert "cancelled" in queued.status.value
    assert len(claw_env.server.requests) == 1


def test_ctrl_c_in_a_text_run_stops_it_and_logs_the_session(shell, claw_env, capsys):
    """Terminal IPython (or --ui text): SIGINT stops the run at a safe point, no traceback."""
    arrived, gate = held_reply(claw_env.server)

    def interrupt():
        if arrived.wait(SAFETY):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    shell.run_cell_magic("claw", "--mode auto", "a long prompt")
    result = magics(shell).last_result
    assert result.stop_reason == "interrupted"
    assert claw_env.server.client_left.wait(SAFETY) and not gate.is_set()
    assert logged_stop_reason(claw_env.db, result.session_id) == "interrupted"
    assert "Traceback" not in capsys.readouterr().out


# -- a real kernel: the interrupt JupyterLab sends ---------------------------------------------


def test_the_kernel_interrupt_stops_a_widget_run_waiting_for_a_silent_model(claw_env, tmp_path):
    """A real ipykernel, as JupyterLab starts it: %%claw returns at once (a widget run), the
    kernel goes idle, and `interrupt_kernel` (SIGINT, what the toolbar's stop button sends)
    stops the run; the session is logged as interrupted."""
    jupyter_client = pytest.importorskip(
        "jupyter_client", reason="a real kernel needs jupyter_client (in the [test] extra)"
    )
    pytest.importorskip("ipywidgets", reason="the widget view needs ipywidgets ([test] extra)")
    arrived, gate = held_reply(claw_env.server)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JPY_")},
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    os.makedirs(env["HOME"], exist_ok=True)
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(claw_env.workspace))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        start = "%load_ext claw_nb\n"
        assert _run(kc, start)["status"] == "ok"
        reply = _run(kc, "%%claw --ui widget --mode auto\na long prompt")
        assert reply["status"] == "ok"  # returned at once: the kernel is idle
        assert arrived.wait(120)  # the first request (LiteLLM may still be loading)
        km.interrupt_kernel()
        assert claw_env.server.client_left.wait(SAFETY)  # the run closed its request
        assert not gate.is_set()
        check = textwrap.dedent("""
            import json
            m = get_ipython().magics_manager.registry["ClawMagics"]
            m._queue.wait_idle(30)
            sessions = m.claw("sessions --all")
            row = sessions.set_index("session_id").loc[m.last_result.session_id]
            print(json.dumps([m.last_result.stop_reason, row["stop_reason"]]))
        """)
        out: list[str] = []
        assert _run(kc, check, out)["status"] == "ok"
        assert json.loads("".join(out)) == ["interrupted", "interrupted"]
        # the kernel still ignores an interrupt when nothing runs, and still runs cells
        km.interrupt_kernel()
        assert _run(kc, "print(6 * 7)", out2 := [])["status"] == "ok" and "42" in "".join(out2)
        # unloading gives the kernel its own between-cells handler back
        back = "%unload_ext claw_nb\nimport signal\n" + (
            "print(get_ipython().kernel.saved_sigint_handler == signal.SIG_IGN)"
        )
        assert _run(kc, back, out3 := [])["status"] == "ok"
        assert "".join(out3).strip() == "True"
    finally:
        gate.set()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _run(kc, code: str, out: list | None = None) -> dict:
    def hook(msg):
        if out is not None and msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    started = time.monotonic()
    reply = kc.execute_interactive(code, timeout=180, output_hook=hook)
    assert time.monotonic() - started < 180
    return reply["content"]
