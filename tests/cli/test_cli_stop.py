"""Ctrl-C in the terminal stops `claw-nb run` at a safe point, even while the model is silent:
the request is closed, the process exits with the stop reason, the session is logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from claw_nb.log.store import list_sessions
from claw_nb.testing import hold, text

SAFETY = 60.0  # a bound for a hang, never the measurement


def test_ctrl_c_stops_a_run_waiting_for_a_silent_model(claw_env, private_cache, tmp_path):
    arrived, gate = threading.Event(), threading.Event()

    def reply(request):
        arrived.set()
        return hold(gate, text("too late"))

    claw_env.server.queue(reply)
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw_nb.cli", "run", "--cwd", str(claw_env.workspace), "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        assert arrived.wait(SAFETY)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SAFETY)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    assert claw_env.server.client_left.wait(SAFETY)  # the request was closed before any reply
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("claw-nb: interrupted: stopped by the user")
    assert list(list_sessions(claw_env.db)["stop_reason"]) == ["interrupted"]  # the journal
