"""Shared by the sandbox tests: process counting, workspace snapshots, a scratch area on the
host filesystem, a bubblewrap runner that refuses to run an attack unless a canary proves it
isolates, and a TCP listener on the host's 127.0.0.1 that records what reaches it."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from claw_nb.sandbox import BwrapRunner, SandboxSettings


def procs_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``marker``."""
    needle = marker.encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if needle not in f.read():
                    continue
            with open(f"/proc/{name}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        out.append(int(name))
    return out


def namespace_init(pid: int) -> int | None:
    """The host PID of the init (PID 1) of the PID namespace ``pid`` is in; None on the host's."""
    while pid > 1:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            return None
        ns_pids = fields.get("NSpid", "").split()
        if len(ns_pids) < 2:
            return None  # on the host
        if ns_pids[-1] == "1":
            return pid
        pid = int(fields["PPid"])
    return None


def survivors(marker: str, within: float = 5.0) -> list[int]:
    end = time.monotonic() + within
    while True:
        left = procs_with(marker)
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def system_tasks() -> int:
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[1])


class PeakTasks:
    """Samples the machine's task count in a thread: ``.extra`` is the peak above the start."""

    def __enter__(self):
        self.base = self.peak = system_tasks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, system_tasks())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.extra = self.peak - self.base


class SandboxTasks:
    """Samples, in a thread, how many processes the bubblewrap sandbox running a command with
    ``marker`` holds (its PID namespace's own /proc): ``.peak``. Unlike the machine's task
    count, other work on a loaded machine does not inflate it."""

    def __init__(self, marker: str, ready: Path | None = None):
        self.needle = marker.encode()
        self.ready = ready  # created once the sampler watches: the command may wait for it
        self.peak = 0
        self.samples = 0

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _find_init(self) -> int | None:
        """The PID 1 of the namespace running the command with the marker: bubblewrap's init
        (a sandbox per command) or the session sandbox's command server."""
        for pid in procs_with(self.needle.decode()):
            if (init := namespace_init(pid)) is not None:
                return init
        return None

    def _watch(self):
        init = None
        host_proc = os.stat("/proc").st_dev
        while not self._stop.is_set():
            if init is None:
                init = self._find_init()
                if init is not None and self.ready is not None:
                    self.ready.touch()
                continue
            proc_dir = f"/proc/{init}/root/proc"
            try:
                if os.stat(proc_dir).st_dev == host_proc:
                    continue  # the sandbox's /proc is not mounted yet
                count = sum(1 for name in os.listdir(proc_dir) if name.isdigit())
            except OSError:
                if not os.path.exists(f"/proc/{init}"):
                    return  # the sandbox is gone
                continue
            self.samples += 1
            self.peak = max(self.peak, count)
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def marker() -> str:
    """A unique number usable as a `sleep` argument, to find the process afterwards."""
    return f"{random.randint(5000, 9999)}.{random.randint(10**5, 10**6 - 1)}"


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under ``root`` (but ``skip``): type, mode, size, mtime and content hash."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None:
            dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in dirnames + filenames:
            p = here / name
            st = os.lstat(p)
            digest = None
            if p.is_file() and not p.is_symlink():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def host_scratch_parent() -> Path | None:
    for cand in (Path.home() / ".cache",):
        real = Path(os.path.realpath(cand))
        if str(real).startswith(("/tmp", "/var/tmp", "/run", "/dev")):
            continue
        try:
            real.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(real, os.W_OK):
            return real
    return None


@dataclass
class Area:
    root: Path  # on the host filesystem (read-only inside the sandbox)
    ws: Path  # the workspace, writable inside
    outside: Path  # next to the workspace, with a sentinel
    tmp_outside: Path  # in pytest's tmp dir, with a sentinel

    def state(self) -> tuple[dict, dict]:
        return snapshot(self.root, skip=self.ws), snapshot(self.tmp_outside)

    @property
    def sentinel(self) -> Path:
        return self.outside / "sentinel.txt"


def sandbox(area: Area, **settings) -> BwrapRunner:
    runner = BwrapRunner(SandboxSettings(**settings), area.ws)
    assert_isolated(runner, area)
    return runner


def assert_isolated(runner: BwrapRunner, area: Area) -> None:
    """Refuse to run an attack unless the sandbox demonstrably isolates: these commands are
    hostile, and must never run on the host because of a regression."""
    canary = area.outside / "canary"
    res = runner.run(
        f"echo x > {canary}; readlink /proc/self/ns/pid /proc/self/ns/mnt", area.ws, 30
    )
    host = [os.readlink(f"/proc/self/ns/{ns}") for ns in ("pid", "mnt")]
    inside = res.stdout.split()
    if canary.exists() or len(inside) != 2 or any(a == b for a, b in zip(inside, host)):
        canary.unlink(missing_ok=True)
        pytest.fail(f"the sandbox does not isolate; not running the attack: {res}")


def run(area: Area, command: str, timeout: float = 30, **settings):
    return sandbox(area, **settings).run(command, area.ws, timeout)


class Server:
    """A TCP server on the host's 127.0.0.1 that records what it receives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    self.received.append(b"")

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()
