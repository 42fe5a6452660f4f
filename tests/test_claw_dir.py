"""`.claw/`: what claw_nb generates there stays out of the user's `git status`."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import claw_nb
from claw_nb.claw_dir import ensure_claw_dir
from claw_nb.testing import text


def _git_status(workspace) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_session_leaves_git_status_clean(scripted_server, workspace):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    scripted_server.queue(text("hello"))
    options = {"model": "openai/scripted", "api_base": scripted_server.url, "api_key": "x"}
    with claw_nb.create_agent(workspace, **options) as agent:
        agent.run("hi")
    assert (workspace / ".claw" / "claw.duckdb").exists()
    status = _git_status(workspace)
    assert status == ""
    (workspace / ".claw" / "settings.toml").write_text("max_steps = 5\n")
    status = _git_status(workspace)
    assert status.strip() == "?? .claw/settings.toml"  # the user's settings can be committed


def test_the_gitignore_is_not_written_through_a_planted_link(workspace, tmp_path):
    target = tmp_path / "victim"
    target.write_text("mine\n")
    (workspace / ".claw").mkdir()
    os.symlink(target, workspace / ".claw" / ".gitignore")
    ensure_claw_dir(workspace)
    assert target.read_text() == "mine\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = tmp_path / "ws2"
    other.mkdir()
    os.symlink(elsewhere, other / ".claw")
    ensure_claw_dir(other)
    assert list(elsewhere.iterdir()) == []
