"""Trials on a real Ray cluster (started here, on 127.0.0.1, and stopped afterwards)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from claw_nb.errors import LabError
from claw_nb.lab.executors import SLOT_RESOURCE, ray_executor
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path_factory, monkeypatch):
    """A one-node cluster with two model slots; its processes are killed as a group after."""
    port = free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    temp = Path(f"/tmp/rl{port}")
    ray_bin = Path(sys.executable).with_name("ray")
    proc = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--resources={json.dumps({SLOT_RESOURCE: 2})}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.5)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def test_no_cluster_fails_at_once_and_starts_none(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    started = time.monotonic()
    with pytest.raises(LabError, match="ray start --head"):
        ray_executor(f"127.0.0.1:{free_port()}")
    assert not ray.is_initialized()
    assert time.monotonic() - started < 60


def test_two_trials_on_a_local_ray_cluster(ray_cluster, scripted_server, tmp_path: Path):
    scripted_server.default = solver_reply
    executor = ray_executor(ray_cluster)
    assert executor.slots == 2
    db = tmp_path / "lab.duckdb"
    exp = run_experiment(
        load_tasks(TASKS[:2]),
        [Variant("solver", system_prompt=SOLVER_PROMPT)],
        experiment="on-ray",
        db_path=db,
        executor=executor,
        model="openai/scripted",
        api_base=scripted_server.url,
        api_key="sk-test",
        unsandboxed=True,
        options={"stream": False},
    )
    assert sorted((r.task, r.reward) for r in exp.results()) == [
        ("fix-number", 1.0),
        ("write-hello", 1.0),
    ]
    con = duckdb.connect(str(db), read_only=True)
    try:
        # The workers' journals came back as data and were ingested by this process.
        sessions = con.execute(
            "SELECT s.trial_id, s.pid != ?, count(m.seq) FROM sessions s "
            "JOIN messages m USING (session_id) GROUP BY ALL",
            [os.getpid()],
        ).fetchall()
    finally:
        con.close()
    assert len(sessions) == 2 and all(other and n >= 4 for _, other, n in sessions)
