"""A bubblewrap sandbox of its own for one command (`session = false`, or a busy session):
how it is supervised, and how it joins its cgroup."""

from __future__ import annotations

import os
import signal

from claw_nb.sandbox.cgroups import Cgroup
from claw_nb.sandbox.process import Supervisor, children, count_pids, kill_pid, signal_group


class BwrapSupervisor(Supervisor):
    """Finds the namespace's init (bwrap's child); killing it kills the whole PID namespace."""

    def __init__(self, cgroup: Cgroup | None, processes: int):
        self.cgroup = cgroup
        self.processes = processes
        self.init_pid: int | None = None

    def _init(self) -> int | None:
        if self.init_pid is None:
            kids = children(self.proc.pid)
            self.init_pid = kids[0] if kids else None
        return self.init_pid

    def check(self) -> str | None:
        if not self.processes:
            return None
        limit = f"process limit ({self.processes})"
        threshold = self.processes + 1  # + the namespace's init
        if self.cgroup is not None and self.cgroup.limited:
            if self.cgroup.limit_hits():
                return limit  # the kernel refused a fork (pids.max)
            threshold = self.processes + 3  # never reached while the cgroup caps the count
        init = self._init()
        if init is None:
            return None
        # The sandbox's own /proc lists exactly the processes of its PID namespace. Until bwrap
        # has set up the new root, /proc/INIT/root/proc is still the host's /proc: skip then.
        proc_dir = f"/proc/{init}/root/proc"
        try:
            if os.stat(proc_dir).st_dev == os.stat("/proc").st_dev:
                return None
        except OSError:
            return None
        if count_pids(proc_dir) > threshold:
            return limit
        return None

    def terminate(self) -> None:
        init = self._init()
        if init is None:
            super().terminate()
            return
        # the sandbox's process group (led by init, which ignores it) gets SIGTERM
        signal_group(init, signal.SIGTERM)

    def kill(self, force: bool = False) -> None:
        # Nothing here may fork: under a fork bomb there may be no process slot left.
        # bwrap's init calls setsid, so the whole sandbox is one process group led by init:
        # kill the group in one go (forks are held off meanwhile), then init itself, whose
        # death makes the kernel kill anything left in the namespace (setsid escapees).
        init = self._init()
        if init is not None:
            signal_group(init, signal.SIGKILL)
        kill_pid(init, signal.SIGKILL)
        super().kill()
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()


def join_cgroup(cgroup: Cgroup, argv: list[str]) -> list[str]:
    join = 'echo $$ > "$0" 2>/dev/null; exec "$@"'
    return ["/bin/sh", "-c", join, str(cgroup.procs_file), *argv]
