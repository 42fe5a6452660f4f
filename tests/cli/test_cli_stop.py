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


def test_ctrl_c_at_an_approval_prompt_ends_the_run(claw_env, private_cache, tmp_path):
    """A prompt waiting for a line never reaches a safe point: there, Ctrl-C ends the run at
    once, the call is answered as interrupted and the session is logged."""
    import pty

    from claw_nb.testing import call, tool_calls

    claw_env.server.queue(tool_calls(call("write_file", {"path": "a.txt", "content": "x"})))
    leader, follower = pty.openpty()  # a terminal on stdin: the run asks there
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw_nb.cli", "run", "--cwd", str(claw_env.workspace), "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=follower,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    os.close(follower)
    try:
        seen = ""
        while "approve?" not in seen:  # the prompt is the last thing written: read to it
            chunk = proc.stdout.read(1)
            assert chunk, f"no prompt; stderr: {proc.stderr.read()}"
            seen += chunk
        # A signal that lands between the prompt's write and the read is handled when the
        # read returns (as for a person, who needs longer than that to press Ctrl-C): again.
        for _ in range(int(SAFETY / 3)):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        out, err = proc.communicate(timeout=SAFETY)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]
    assert not (claw_env.workspace / "a.txt").exists()
    assert list(list_sessions(claw_env.db)["stop_reason"]) == ["interrupted"]
