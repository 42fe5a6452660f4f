"""A stop kills the command in progress (and what it started), on both runners: a Stop does not
wait for `sleep 600` to end. Each runner is a real one (bubblewrap when it works here)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from claw_nb.sandbox import BwrapRunner, PlainRunner, SandboxSettings, bwrap_status
from claw_nb.sandbox.process import STOPPED
from claw_nb.tools.command import format_result
from tests.sandbox.kit import marker, survivors


def _runners(ws: Path):
    yield PlainRunner(SandboxSettings(), ws)
    usable, _why = bwrap_status()
    if usable:
        yield BwrapRunner(SandboxSettings(), ws)


@pytest.fixture(params=["plain", "bwrap"])
def runner(request, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    found = {type(r).__name__: r for r in _runners(ws.resolve())}
    name = {"plain": "PlainRunner", "bwrap": "BwrapRunner"}[request.param]
    if name not in found:
        pytest.skip("bubblewrap does not work on this machine")
    return found[name], ws.resolve()


def test_a_stop_kills_the_command_and_its_children(runner):
    run, ws = runner
    tag = marker()
    stopped = threading.Event()
    started = ws / "started"
    command = f"sleep {tag} & touch started; sleep {tag}"

    def stop_when_started() -> bool:
        if started.exists():
            stopped.set()
        return stopped.is_set()

    result = run.run(command, ws, 600, stop=stop_when_started)
    assert stopped.is_set() and not result.timed_out
    assert result.killed_reason == STOPPED
    assert survivors(tag) == []  # the background sleep went too
    assert "stopped by the user" in format_result(result, 600)


def test_without_a_stop_the_command_runs_to_its_end(runner):
    run, ws = runner
    result = run.run("echo done", ws, 60, stop=lambda: False)
    assert result.exit_code == 0 and result.stdout == "done\n" and result.killed_reason is None
