"""Per-command cgroups: join before exec, cap tasks with ``pids.max``, kill every member."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

from claw_nb.records import record
from claw_nb.sandbox.process import kill_pid
from claw_nb.sandbox.settings import SandboxSettings


@record
class CgroupBase:
    path: Path
    pids: bool  # the pids controller is available in child cgroups (pids.max)
    kill_file: bool  # cgroup v2 cgroup.kill


_cgroup_base_cache: dict[str, CgroupBase | None] = {}
_cgroup_lock = threading.Lock()
_cgroup_counter = itertools.count()


def _mounts() -> list[tuple[str, str, str, list[str]]]:
    """(root, mount point, fs type, super options) of every mount."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                a, b = pre.split(), post.split()
                if len(a) >= 5 and len(b) >= 3:
                    out.append((a[3], a[4].replace("\\040", " "), b[0], b[2].split(",")))
    except OSError:
        pass
    return out


def _own_cgroups() -> dict[str, str]:
    """{'v2': path, 'pids': path} from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) != 3:
                    continue
                hid, ctrls, path = parts
                if hid == "0" and ctrls == "":
                    out["v2"] = path
                elif "pids" in ctrls.split(","):
                    out["pids"] = path
    except OSError:
        pass
    return out


def _under(mount_point: str, mount_root: str, path: str) -> Path | None:
    if mount_root != "/" and not (path == mount_root or path.startswith(mount_root + "/")):
        return None
    rel = path[len(mount_root) :] if mount_root != "/" else path
    return Path(mount_point) / rel.lstrip("/")


def _probe_base(base: Path, pids: bool) -> CgroupBase | None:
    probe = base / f"claw-probe-{os.getpid()}-{os.urandom(3).hex()}"
    try:
        if not os.access(base / "cgroup.procs", os.W_OK):
            return None
        probe.mkdir()
    except OSError:
        return None
    try:
        has_max = (probe / "pids.max").exists()
        if has_max:
            (probe / "pids.max").write_text("max")
        kill_file = (probe / "cgroup.kill").exists()
    except OSError:
        return None
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass
    _sweep_stale(base)
    return CgroupBase(base, pids and has_max, kill_file)


def find_cgroup_base() -> CgroupBase | None:
    """Where per-command cgroups can be made (cached): the cgroup v1 pids hierarchy, else
    cgroup v2 (with pids.max when the controller is enabled there, else for tracking only)."""
    with _cgroup_lock:
        if "base" in _cgroup_base_cache:
            return _cgroup_base_cache["base"]
        own = _own_cgroups()
        found: CgroupBase | None = None
        candidates: list[tuple[Path, bool]] = []
        for root, point, fstype, opts in _mounts():
            if fstype == "cgroup" and "pids" in opts and "pids" in own:
                p = _under(point, root, own["pids"])
                if p:
                    candidates.insert(0, (p, True))
            elif fstype == "cgroup2" and "v2" in own:
                p = _under(point, root, own["v2"])
                if p:
                    candidates.append((p, True))
        for path, pids in candidates:
            found = _probe_base(path, pids)
            if found and found.pids:
                break
        if found is None:
            for path, pids in candidates:
                found = _probe_base(path, False)
                if found:
                    break
        _cgroup_base_cache["base"] = found
        return found


def _sweep_stale(base: Path) -> None:
    """Remove per-command cgroups left by processes that died without cleaning up."""
    try:
        entries = [e for e in os.listdir(base) if e.startswith("claw-") and "probe" not in e]
    except OSError:
        return
    for name in entries:
        try:
            owner = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if owner == os.getpid() or Path(f"/proc/{owner}").exists():
            continue
        cg = Cgroup.__new__(Cgroup)
        cg.path, cg.kill_file, cg.limited = base / name, False, False
        cg.remove(wait=0.0)


class Cgroup:
    """One command's cgroup: joins it before exec, caps tasks, kills all members at the end."""

    def __init__(self, base: CgroupBase, limit: int):
        self.path = base.path / f"claw-{os.getpid()}-{next(_cgroup_counter)}"
        self.path.mkdir()
        self.kill_file = base.kill_file
        self.limited = False
        if base.pids and limit:
            (self.path / "pids.max").write_text(str(limit))
            self.limited = True

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def limit_hits(self) -> int:
        """How many forks pids.max refused so far."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in self.procs_file.read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self, spare: int | None = None) -> None:
        """SIGKILL every member (but ``spare``), until none is left."""
        if self.kill_file and spare is None:
            try:
                (self.path / "cgroup.kill").write_text("1")
                return
            except OSError:
                pass
        for _ in range(200):  # members may still be forking: repeat until none are left
            pids = [p for p in self.pids() if p != spare]
            if not pids:
                return
            for pid in pids:
                kill_pid(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self, wait: float = 1.0) -> None:
        self.kill_all()
        end = time.monotonic() + wait
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                # exiting tasks leave the cgroup a moment later; a stale dir is swept later
                if time.monotonic() >= end:
                    return
                time.sleep(0.01)


def make_cgroup(settings: SandboxSettings, slack: int) -> Cgroup | None:
    if not settings.cgroup:
        return None
    base = find_cgroup_base()
    if base is None:
        return None
    try:
        return Cgroup(base, settings.processes + slack if settings.processes else 0)
    except OSError:
        return None
