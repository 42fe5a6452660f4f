"""Shared fixtures: a scripted OpenAI-compatible server, a workspace, the CLAW_* env and a real
IPython shell with claw_nb loaded (text or widget view)."""

from __future__ import annotations

import os

# Before anything can import litellm: never fetch the model cost map from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

# Test the working tree even when the package is not installed (plain `pytest` from the root).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from claw_nb.testing import ScriptedServer
from tests.notebook_shell import claw_shell, widget_mode


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A running :class:`ScriptedServer` with an empty script; call ``.queue(...)``."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory, ``tmp_path / "ws"``."""
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def private_cache(monkeypatch, tmp_path) -> Path:
    """A user cache of this test's own (journals and checkpoints live there)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def claw_env(monkeypatch, scripted_server, workspace, tmp_path) -> SimpleNamespace:
    """CLAW_* environment pointing at the scripted server; returns (server, workspace, db)."""
    db = tmp_path / "claw.duckdb"
    monkeypatch.setenv("CLAW_MODEL", "openai/scripted")
    monkeypatch.setenv("CLAW_API_BASE", scripted_server.url)
    monkeypatch.setenv("CLAW_API_KEY", "sk-test")
    monkeypatch.setenv("CLAW_DB", str(db))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return SimpleNamespace(server=scripted_server, workspace=workspace, db=db)


@pytest.fixture
def shell(claw_env, monkeypatch):
    """A real IPython shell in the workspace with `%load_ext claw_nb` done (text mode)."""
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


@pytest.fixture
def widget_shell(shell, monkeypatch):
    """`shell` in widget mode without a browser: nothing is displayed."""
    pytest.importorskip(
        "ipywidgets", reason="the widget view needs ipywidgets (in the [test] extra)"
    )
    widget_mode(monkeypatch)
    return shell


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds`` (SIGALRM; no-op elsewhere)."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"time limit of {seconds}s exceeded (hang?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def time_limit():
    """``with time_limit(10): ...`` -- fail with TimeoutError instead of hanging forever."""
    return _time_limit
