"""Fixtures for the MCP tests: the user's approvals in a temporary folder, a workspace whose
`.mcp.json` names the real notes server (tests/mcp/notes_server.py), and that server over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

NOTES_SERVER = Path(__file__).resolve().parent / "notes_server.py"


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch) -> Path:
    """Approvals go to a temporary folder, never the user's own; servers started here get a
    temporary HOME (a stdio server inherits HOME: a test's server must never reach the real one)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MCP_TIMEOUT", raising=False)
    monkeypatch.delenv("MCP_TOOL_TIMEOUT", raising=False)
    return folder


def notes_entry(pids: Path | None = None, **env: str) -> dict:
    """A `.mcp.json` entry that runs the notes server over stdio."""
    entry: dict = {"command": sys.executable, "args": [str(NOTES_SERVER)]}
    if pids is not None:
        env = {"NOTES_PIDS": str(pids), **env}
    if env:
        entry["env"] = env
    return entry


def write_mcp_json(workspace: Path, servers: dict) -> Path:
    path = workspace / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}, indent=1))
    return path


def started_pids(pids: Path) -> list[int]:
    return [int(x) for x in pids.read_text().split()] if pids.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(params=["http", "sse"])
def http_notes_server(request):
    """The notes server over streamable HTTP (and SSE) on 127.0.0.1; yields its base URL."""
    kind = request.param
    proc = subprocess.Popen(
        [sys.executable, str(NOTES_SERVER), kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        port = int(proc.stdout.readline())  # printed once the socket listens
        path = "/mcp" if kind == "http" else "/sse"
        yield kind, f"http://127.0.0.1:{port}{path}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
