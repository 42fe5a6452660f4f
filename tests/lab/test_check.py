"""`claw-nb lab check`: every shipped task's oracle scores 1 and its untouched workspace 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claw_nb.lab.tasks import builtin_suite

ROOT = Path(__file__).resolve().parents[2]


def bwrap_usable() -> bool:
    from claw_nb.sandbox import bwrap_status

    return bwrap_status("bwrap")[0]


needs_bwrap = pytest.mark.skipif(not bwrap_usable(), reason="bubblewrap is not usable here")


def lab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "claw_nb", "lab", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=timeout,
    )


@needs_bwrap
def test_the_shipped_suite_passes_lab_check():
    proc = lab("check", "builtin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"all {len(builtin_suite())} task(s) pass" in proc.stdout
    assert proc.stdout.count("ok  ") == len(builtin_suite())


@needs_bwrap
def test_a_task_whose_verifier_passes_untouched_work_is_refused(tmp_path: Path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(
        json.dumps(
            [
                {
                    "name": "lenient",
                    "instruction": "anything",
                    "files": {"a.txt": "x\n"},
                    "test": 'echo 1 > "$REWARD_DIR/reward.txt"\n',
                    "solution": "true\n",
                },
                {
                    "name": "no-oracle",
                    "instruction": "anything",
                    "files": {},
                    "test": 'test -f done && echo 1 > "$REWARD_DIR/reward.txt" || echo 0 > "$REWARD_DIR/reward.txt"\n',
                    "solution": "exit 3\n",
                },
            ]
        )
    )
    proc = lab("check", str(tasks))
    assert proc.returncode == 1
    assert (
        "FAIL lenient" in proc.stdout and "the untouched workspace scored 1, not 0" in proc.stdout
    )
    assert "FAIL no-oracle" in proc.stdout and "solve.sh exited 3" in proc.stdout
    assert "2 of 2 task(s) refused: lenient, no-oracle" in proc.stdout
