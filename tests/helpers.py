"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb.protocols import Authorization

ROOT = Path(__file__).resolve().parents[1]


class Recorder(list):
    """A listener that keeps every event, with a filter by type."""

    def __call__(self, event: Any) -> None:
        self.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]


def wait_until(predicate: Callable[[], Any], timeout: float, poll: float = 0.02) -> None:
    """Look at `predicate` every `poll` seconds until it holds; fail after `timeout`: for a state
    only a widget shows (its buttons, its header), which no event announces."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError("timed out waiting")


def allow_everything(tool: Any, arguments: dict[str, Any]) -> Authorization:
    """An authorizer for loop tests that are not about permissions."""
    return Authorization(True, "allowed by the test")


def scripted_config(server: Any, workspace: Path, **options: Any) -> Any:
    """The configuration of a run against the scripted server `server` (a `ScriptedServer`):
    whole replies unless `stream=True`."""
    from claw_nb.config import load_config

    options.setdefault("stream", False)
    return load_config(
        workspace, model="openai/scripted", api_base=server.url, api_key="sk-test", **options
    )


def recorded_agent(config: Any, **kwargs: Any) -> tuple[Any, Recorder]:
    """(an `unguarded_agent` for `config`, a Recorder of every event it emits)."""
    recorder = Recorder()
    return unguarded_agent(config, listeners=[recorder], **kwargs), recorder


def unguarded_agent(config: Any, **kwargs: Any):
    """An Agent with a plain runner and every call allowed: for loop logic, not security."""
    from claw_nb.agent import Agent
    from claw_nb.sandbox import PlainRunner

    if "model" not in kwargs:
        from claw_nb.model import make_model

        kwargs["model"] = make_model(config)
    kwargs.setdefault("runner", PlainRunner())
    kwargs.setdefault("authorize", allow_everything)
    return Agent(config, **kwargs)


class ByTask:
    """A scripted server's reply function with one script per conversation, told apart by the
    request's first user message, which starts with the script's name (a subagent's is the
    `prompt` its parent gave it): a test scripts a parent and its children and sees which
    requests each one sent."""

    def __init__(self, **scripts: list[Any]) -> None:
        self.scripts = {marker: list(replies) for marker, replies in scripts.items()}
        self.requests: dict[str, list[dict]] = {marker: [] for marker in scripts}
        self.arrived = {marker: threading.Event() for marker in scripts}  # its first request

    def __call__(self, body: dict) -> Any:
        first = next(
            (str(m.get("content")) for m in body.get("messages", []) if m["role"] == "user"), ""
        )
        marker = next((m for m in self.scripts if first.startswith(m)), None)
        if marker is None:
            raise AssertionError(f"no script for a conversation that starts with {first!r}")
        self.requests[marker].append(body)
        self.arrived[marker].set()
        if not self.scripts[marker]:
            raise AssertionError(f"the script for {marker!r} ran out")
        return self.scripts[marker].pop(0)


def query(db: Path, sql: str, params=None) -> list[tuple]:
    """The rows of `sql` on the DuckDB log `db`, opened read-only for just this query."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tree_env() -> dict[str, str]:
    """This environment, for a subprocess that imports this tree first."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def scripted_env(server: Any) -> dict[str, str]:
    """`tree_env()` whose CLAW_* settings point at the scripted server `server`."""
    return {
        **tree_env(),
        "CLAW_MODEL": "openai/scripted",
        "CLAW_API_BASE": server.url,
        "CLAW_API_KEY": "sk-test",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


def run_claw(workspace: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """`claw-nb run --cwd WORKSPACE ARGS` in its own process importing this tree, its output
    captured; its stdin is not a terminal (`stdin=` or `input=` say what it is instead)."""
    env = tree_env()
    if "input" not in kwargs:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", "claw_nb.cli", "run", "--cwd", str(workspace), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        **kwargs,
    )


def notebook_env() -> dict[str, str]:
    """This environment without a configured model or a Jupyter front end, importing this tree:
    for a notebook run in a subprocess."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CLAW_") and k != "JPY_SESSION_NAME"
    }
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def assert_nbval_passes(notebook: Path, folder: Path, env: dict[str, str], timeout: float) -> None:
    """`notebook` under `pytest --nbval-lax` (what CI promises), run in `folder`: every cell runs."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            str(notebook),
        ],
        check=False,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
