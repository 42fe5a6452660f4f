"""`claw-nb lab fork` and `lab fork-failures` in a subprocess, against the scripted server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from claw_nb.testing.lab_demo import HABIT_WRITE
from tests.lab.test_fork import demo_tasks, failed_session, run_base

ROOT = Path(__file__).resolve().parents[2]


def lab(tmp_path: Path, server, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "CLAW_API_KEY": "sk-test",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "claw_nb", "lab", *args, "--db", str(tmp_path / "lab.duckdb")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )


def taught_toml(tmp_path: Path) -> str:
    path = tmp_path / "taught.toml"
    path.write_text(f'system_prompt = """You are an agent.\n{HABIT_WRITE}\n$tools\n"""\n')
    return f"taught={path}"


def test_fork_prints_the_fork_session_and_its_verdict(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(2)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    variant = taught_toml(tmp_path)

    proc = lab(
        tmp_path, scripted_server, "fork", original[:8], "--at-step", "2", "--variant", variant
    )
    assert proc.returncode == 0, proc.stderr
    assert f"of {original} at step 2 (taught, {tasks[0].name}): PASS reward 1" in proc.stdout
    assert "replayed 1 call(s), 0 diverged" in proc.stdout

    proc = lab(tmp_path, scripted_server, "fork-failures", "base-exp", "--variant", variant)
    assert proc.returncode == 0, proc.stderr
    assert "2 fork(s) of failed trials of base-exp under taught: 2 passed" in proc.stdout
    assert "exact McNemar" in proc.stdout and "small sample" in proc.stdout


def test_bad_session_ids_and_steps_get_one_line_errors(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    tasks = demo_tasks(1)
    run_base(scripted_server, db, tasks)
    original = failed_session(db, tasks[0].name)
    variant = taught_toml(tmp_path)

    for words, message in (
        (["fork", "nosuch", "--at-step", "1"], "no session 'nosuch'"),
        (["fork", original, "--at-step", "3"], "--at-step 3 is outside session"),
        (["fork", original, "--at-step", "0"], "--at-step 0 is outside session"),
        (["fork-failures", "nosuch"], "no experiment 'nosuch'"),
    ):
        proc = lab(tmp_path, scripted_server, *words, "--variant", variant)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("claw-nb lab: ") and message in lines[0]


def test_fork_failures_takes_the_executor_options_of_lab_run(scripted_server, tmp_path):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(2))
    variant = taught_toml(tmp_path)

    proc = lab(
        tmp_path, scripted_server, "fork-failures", "base-exp", "--variant", variant, "--slots", "2"
    )
    assert proc.returncode == 0, proc.stderr
    # each fork is printed as the driver records it, then the comparison
    assert proc.stdout.count(": PASS reward 1 (original 0)") == 2
    assert "2 fork(s) of failed trials of base-exp under taught: 2 passed" in proc.stdout

    with socket.socket() as s:  # a port nobody listens at
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    proc = lab(
        tmp_path,
        scripted_server,
        "fork-failures",
        "base-exp",
        "--variant",
        variant,
        "--ray",
        address,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("claw-nb lab: ") and "Ray" in lines[0]
