"""Trials and forks on a real Ray cluster (started once for this module, on 127.0.0.1, and
stopped afterwards; every test here shares it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from claw_nb.errors import LabError
from claw_nb.lab.executors import SLOT_RESOURCE, local_executor, ray_executor
from claw_nb.lab.fork.failures import fork_failures
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.stop import StopToken
from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply
from tests.lab.test_fork import TAUGHT, demo_tasks, query, run_base
from tests.lab.test_fork_executors import WAIT_S, HeldForks, fork_rows, report_rows

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
ray_constants = pytest.importorskip(
    "ray._private.ray_constants", reason="Ray is not installed (pip install -e '.[ray]')"
)
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node cluster with two model slots, shared by the module's tests (starting one
    takes seconds); its processes are killed as a group after the last.

    Ray 2.60 turns 127.0.0.1 into the machine's network address, in `ray start
    --node-ip-address` and in the driver's `ray.init` alike, unless clusters are "disabled"
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which only changes that lookup): with it the
    head and its workers stay on loopback; `ray_executor` keeps the driver there itself."""
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_AUTH_MODE", "disabled")
    # the driver is left as a user's is: ray_executor keeps it on loopback by itself
    proc, port, temp = start_head()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        stop_head(proc, temp)
        patch.undo()


HEAD_ATTEMPTS = 3
STARTED = "Ray runtime started"


def start_head() -> tuple[subprocess.Popen, int, Path]:
    """`ray start --head --block` on a free loopback port, read until it says it started.

    On a loaded machine Ray 2.60's head can give up on its own start (its raylet waits ~15 s
    for the dashboard agent's port file, then exits: "The current node timed out during
    startup"); such a head is started again on another port, at most three times."""
    output = ""
    for _ in range(HEAD_ATTEMPTS):
        port = free_port()
        temp = Path(f"/tmp/rl{port}")
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("ray")),
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
            env={
                **os.environ,
                "RAY_AUTH_MODE": "disabled",
                LOOPBACK_ONLY: "0",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        output = ""
        for line in proc.stdout:  # ends when the head exits: it did not start
            output += line
            if STARTED in line:
                threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
                return proc, port, temp
        stop_head(proc, temp)
    pytest.fail(f"no Ray head started in {HEAD_ATTEMPTS} attempts; the last said:\n{output}")


def stop_head(proc: subprocess.Popen, temp: Path) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(temp, ignore_errors=True)


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


def test_forks_on_a_local_ray_cluster_record_what_one_after_another_records(
    ray_cluster, scripted_server, tmp_path: Path
):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(3))
    one = local_executor(1)
    try:
        sequential = fork_failures(
            "base-exp",
            TAUGHT,
            db_path=db,
            api_key="sk-test",
            executor=one,
            forks_experiment="one-by-one",
        )
    finally:
        one.shutdown()

    on_ray = fork_failures(
        "base-exp",
        TAUGHT,
        db_path=db,
        api_key="sk-test",
        executor=ray_executor(ray_cluster),
        forks_experiment="on-ray",
    )

    assert [f.passed for f in on_ray.forks] == [True, True, False]
    assert fork_rows(db, "on-ray") == fork_rows(db, "one-by-one")
    assert report_rows(on_ray) == report_rows(sequential)
    # The forks ran in the cluster's workers; their journals came back as data.
    pids = query(
        db,
        "SELECT s.pid != ? FROM trials t JOIN sessions s USING (session_id) "
        "WHERE t.experiment = 'on-ray'",
        [os.getpid()],
    )
    assert pids == [(True,)] * 3


def test_a_stop_cancels_the_forks_on_the_cluster(ray_cluster, scripted_server, tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    run_base(scripted_server, db, demo_tasks(3))
    held = HeldForks()
    scripted_server.default = held
    executor = ray_executor(ray_cluster)  # two slots: two forks run, one waits
    token = StopToken()
    box: dict = {}

    def go():
        box["report"] = fork_failures(
            "base-exp", TAUGHT, db_path=db, api_key="sk-test", executor=executor, stop=token
        )

    thread = threading.Thread(target=go)
    thread.start()
    try:
        assert held.two_reached.wait(WAIT_S)
        token.stop("stopped by the test")
        thread.join(WAIT_S)
    finally:
        held.release.set()
    assert not thread.is_alive()
    report = box["report"]
    assert report.stopped and report.forks == ()  # cancelled: nothing came back to record
    assert len(held.reached) == 2  # the queued fork never started
    assert query(db, "SELECT count(*) FROM trials WHERE experiment = 'base-exp-forks'") == [(0,)]


def test_the_cluster_and_its_workers_stay_on_loopback(ray_cluster):
    executor = ray_executor(ray_cluster)
    node = ray._private.worker.global_worker.node
    assert (node.gcs_address, node.node_ip_address) == (ray_cluster, "127.0.0.1")
    where = ray.remote(num_cpus=0, resources={SLOT_RESOURCE: 1})(ray.util.get_node_ip_address)
    assert ray.get(where.remote(), timeout=WAIT_S) == "127.0.0.1"
    assert executor.slots == 2
    assert ray_constants.ENABLE_RAY_CLUSTER  # turned off for the connect alone
