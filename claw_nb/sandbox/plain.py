"""The plain runner: commands on the host, no isolation, but every process of them in reach.

The supervisor process (``_reaper.py``, run by path with ``python -I -S``) joins the command's
cgroup, becomes a child subreaper, starts the command with the rlimits, counts its processes
when asked to and kills everything left when the command ends.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from claw_nb.protocols import CommandResult
from claw_nb.sandbox.cgroups import Cgroup, make_cgroup
from claw_nb.sandbox.environment import command_env
from claw_nb.sandbox.limits import rlimits
from claw_nb.sandbox.process import (
    KILL_GRACE_S,
    RunnerBase,
    Supervisor,
    children,
    count_tree,
    kill_pid,
    run_capped,
    signal_group,
)
from claw_nb.sandbox.settings import SandboxSettings

REAPER = Path(__file__).with_name("_reaper.py")


class _PlainSupervisor(Supervisor):
    def __init__(self, status_fd: int, cgroup: Cgroup | None, processes: int):
        self.status_fd = status_fd
        self.cgroup = cgroup
        self.processes = processes
        self.status = b""
        self.child_pgid: int | None = None

    def _read_status(self) -> None:
        while True:
            try:
                data = os.read(self.status_fd, 4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not data:
                break
            self.status += data
        for line in self.status.decode(errors="replace").splitlines():
            if line.startswith("pid "):
                self.child_pgid = int(line.split()[1])

    def _done(self) -> bool:
        return b"\ndone" in b"\n" + self.status

    def _child(self) -> int | None:
        if self.child_pgid is None:
            self._read_status()
        if self.child_pgid is None:
            kids = children(self.proc.pid)
            self.child_pgid = kids[0] if kids else None
        return self.child_pgid

    def check(self) -> str | None:
        if not self.processes:
            return None
        limit = f"process limit ({self.processes})"
        cg = self.cgroup
        if cg is not None and cg.limited:
            return limit if cg.limit_hits() else None
        # The helper counts too, but under a fork bomb it can be slow to get its turn; the
        # command's processes are all the helper's descendants (it is their subreaper).
        if count_tree(self.proc.pid, self.processes) > self.processes:
            return limit
        return None

    def kill(self, force: bool = False) -> None:
        # The command's processes first, while the helper lives to reap them (orphans of a
        # dead helper go to pid 1, which does not always reap); then the helper is told to
        # kill whatever is left and exit. SIGKILL for the helper only if that did not work.
        child = self._child()
        if child:  # the command's session: one atomic kill, forks are held off meanwhile
            signal_group(child, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all(spare=self.proc.pid)
        kill_pid(self.proc.pid, signal.SIGUSR1)
        if force:
            super().kill()

    def finish(self, returncode: int | None) -> tuple[int | None, str | None]:
        self._read_status()
        code: int | None = returncode
        limit = None
        for line in self.status.decode(errors="replace").splitlines():
            word, _, value = line.partition(" ")
            if word == "exit":
                code = int(value)
            elif word == "signal":
                code = -int(value)
            elif word == "limit":
                limit = f"process limit ({self.processes})"
        if not self._done() and returncode is not None and returncode < 0:
            code = returncode  # the helper itself was killed
        return code, limit

    def cleanup(self) -> None:
        super().cleanup()
        self._read_status()
        if self.child_pgid and not self._done():  # the helper did not finish cleaning up
            signal_group(self.child_pgid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.remove()
        try:
            os.close(self.status_fd)
        except OSError:
            pass


class PlainRunner(RunnerBase):
    """Runs ``bash -c COMMAND`` directly on the host, in the given directory (no isolation).

    What it still does: rlimits, scrubbed environment, stdin closed, timeout on the whole
    process tree (daemons included, through a subreaper supervisor and a cgroup when one can be
    made), process-count cap, capped output. What it cannot do: stop the command from reading or
    writing anything the user can, or from using the network.
    """

    name = "plain"
    sandboxed = False

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        workspace: Path | None = None,
        *,
        output_dir: Path | None = None,
        shell: str | None = None,
        env: Mapping[str, str] | None = None,
    ):
        super().__init__(settings, workspace, output_dir=output_dir)
        self.shell = shell or self.settings.shell
        self.env = env  # extra variables on top of the scrubbed environment

    def run(
        self, command: str, cwd: Path, timeout: float, stop: Callable[[], bool] | None = None
    ) -> CommandResult:
        s = self.settings
        cgroup = make_cgroup(s, slack=2)  # the helper and the shell itself
        kernel_capped = cgroup is not None and cgroup.limited
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        limits = ",".join(f"{name}:{soft}:{hard}" for name, soft, hard in rlimits(s))
        argv = [
            sys.executable, "-I", "-S", str(REAPER),
            str(wfd), str(os.getpid()), str(KILL_GRACE_S / 2),
            str(0 if kernel_capped else s.processes),
            str(cgroup.procs_file) if cgroup else "",
            limits,
            self.shell, "-c", command,
        ]  # fmt: skip
        sup = _PlainSupervisor(rfd, cgroup, s.processes)
        try:
            res = run_capped(
                argv,
                cwd,
                timeout,
                env=command_env(s, self.env),
                supervisor=sup,
                output_log=self._output_log(),
                pass_fds=(wfd,),
                stop=stop,
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            try:
                os.close(rfd)
            except OSError:
                pass
            raise
        finally:
            os.close(wfd)
        return self._result(res)
