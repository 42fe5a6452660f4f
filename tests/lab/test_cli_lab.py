"""`claw-nb lab run` and `claw-nb lab report` in a subprocess, against the scripted server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import scripted_env
from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply
from tests.lab.test_runner import UNSANDBOXED

ROOT = Path(__file__).resolve().parents[2]


def lab(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "claw_nb", "lab", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=300,
    )


def test_run_then_report(scripted_server, tmp_path: Path):
    scripted_server.default = solver_reply
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(TASKS[:1]))
    solver = tmp_path / "solver.toml"
    solver.write_text(f"system_prompt = {json.dumps(SOLVER_PROMPT)}\ntemperature = 0.0\n")
    db = tmp_path / "lab.duckdb"
    env = scripted_env(scripted_server)
    extra = ["--unsandboxed"] if UNSANDBOXED else []
    proc = lab(
        "run",
        str(tasks),
        "--variant",
        "base",
        "--variant",
        f"solver={solver}",
        "--repeats",
        "2",
        "--experiment",
        "cli",
        "--db",
        str(db),
        *extra,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "solver / write-hello #1: reward 1" in proc.stderr  # progress goes to stderr
    assert "cli: [" in proc.stderr and "4/4" in proc.stderr
    assert "experiment cli in" in proc.stdout and "pass_rate" in proc.stdout
    report = lab("report", "cli", "--db", str(db), "--per-task", env=env)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0] == "experiment cli (4 trials)"
    assert lines[2].split()[:3] == ["solver", "2", "1"] and lines[3].split()[:3] == [
        "base",
        "2",
        "0",
    ]
    missing = lab("report", "nope", "--db", str(db), env=env)
    assert missing.returncode == 2 and "no experiment 'nope'" in missing.stderr
