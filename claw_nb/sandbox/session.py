"""One bubblewrap sandbox for a session's commands, started on the first command.

Starting bubblewrap (namespaces, ~40 mounts, a cgroup, an init) costs ~50-90 ms on a loaded
2-core machine, per command. A :class:`SandboxSession` starts it once with a small command
server as its PID 1 (``_server.py``, standard library only) and hands it one command at a time
over a Unix socket: the command's stdout and stderr are pipes the host made and reads itself
(passed with SCM_RIGHTS), so the only things the host takes from the server are a PID and an
exit status, in bounded, validated JSON.

What keeps a long-lived sandbox as tight as one per command (``docs/security.md``):

* The mount plan (:class:`MountPlan`: bubblewrap's mount options *and* the identity of every
  path they name) is computed before each command; a sandbox started from another plan is
  closed and a new one started. A path replaced on the host (a mount on the old one would be
  detached) or a protected file that appeared (``.mcp.json``, a hidden path) changes the plan.
* Environment, working directory and umask are set per command, in a freshly spawned process;
  rlimits are the session's, set on the server once as it starts, inherited by each command
  (each starts its own CPU count), and a command that changes them (prlimit on the server)
  ends the sandbox.
* When a command ends, every process of the sandbox but the server is killed, the private
  ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm`` are emptied and System V IPC objects
  removed; the host checks that the sandbox's PID namespace holds nothing but the server.
* A timeout (after SIGTERM to the command's process group and a grace period), a process
  limit, a stop request, an interrupt, a protocol error or a server that says it changed ends
  the whole sandbox (killing PID 1 kills the namespace); the next command starts a fresh one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any

from claw_nb.lazy_logger import get_logger
from claw_nb.protocols import CommandResult
from claw_nb.records import record
from claw_nb.sandbox.capture import OutputLog
from claw_nb.sandbox.cgroups import Cgroup
from claw_nb.sandbox.mounts import Identity, MountPlan, identity
from claw_nb.sandbox.process import (
    Supervisor,
    children,
    count_pids,
    kill_pid,
    signal_group,
    supervise,
)
from claw_nb.sandbox.server_channel import Channel, SessionError, server_program, small_int

logger = get_logger("claw_nb.sandbox")
START_TIMEOUT_S = 20.0  # for bubblewrap and the server to say they are ready


class _RemoteCommand:
    """A command the server runs, seen as a process by :func:`supervise`: ``poll`` and
    ``wait`` read the server's report. Exit codes as bubblewrap's own init gives them (a
    signal N is 128 + N); -9 when the sandbox had to be killed before it reported."""

    def __init__(self, session: SandboxSession):
        self.session = session
        self.returncode: int | None = None
        self.pid: int | None = None  # in the sandbox's PID namespace
        self.reuse = False

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = 0.1 if end is None else min(0.1, end - time.monotonic())
            if left < 0:
                raise subprocess.TimeoutExpired("sandbox command", timeout or 0.0)
            self._read(left)
        return self.returncode

    def _read(self, timeout: float) -> None:
        session = self.session
        try:
            message = session.channel.receive(timeout)
        except SessionError as exc:
            session.broken = str(exc)
            session.kill()
            self.returncode = -signal.SIGKILL
            return
        if message is None:
            if session.proc.poll() is not None:  # bubblewrap is gone without a word
                session.kill()
                self.returncode = -signal.SIGKILL
            return
        try:
            if "pid" in message and self.pid is None:
                self.pid = small_int(message, "pid", 2, 1 << 22)
            elif "exit" in message:
                self.returncode = small_int(message, "exit", 0, 255)
            elif "signal" in message:
                self.returncode = 128 + small_int(message, "signal", 1, 64)
            else:
                raise SessionError("the sandbox's command server sent an unknown reply")
        except SessionError as exc:
            session.broken = str(exc)
            session.kill()
            self.returncode = -signal.SIGKILL
            return
        if self.returncode is not None:
            self.reuse = message.get("reuse") is True


class _SessionSupervisor(Supervisor):
    """Process limit by the session's cgroup (forks it refused during this command) or by
    counting the sandbox's PID namespace; SIGTERM to the command's process group; every
    harder measure ends the whole sandbox."""

    def __init__(self, session: SandboxSession, processes: int):
        self.session = session
        self.processes = processes
        cg = session.cgroup
        self.hits_before = cg.limit_hits() if cg is not None and cg.limited else 0

    def check(self) -> str | None:
        if not self.processes:
            return None
        limit = f"process limit ({self.processes})"
        threshold = self.processes + 1  # + the server
        cg = self.session.cgroup
        if cg is not None and cg.limited:
            if cg.limit_hits() > self.hits_before:
                return limit  # the kernel refused a fork (pids.max)
            threshold = self.processes + 3  # never reached while the cgroup caps the count
        if self.session.processes() > threshold:
            return limit
        return None

    def terminate(self) -> None:
        pid = self.session.host_pid(self.proc.pid)
        if pid is not None:
            signal_group(pid, signal.SIGTERM)  # its own session: the group it leads
        else:
            self.session.kill()

    def kill(self, force: bool = False) -> None:
        self.session.kill()

    def cleanup(self) -> None:
        session = self.session
        if self.proc.returncode is None or session.proc.poll() is not None:
            session.kill()
        elif not self.proc.reuse or session.processes() != 1:
            session.kill()  # the server asked to go, or something outlived the command


@record
class SandboxSession:
    """A running session sandbox (see the module docstring)."""

    proc: subprocess.Popen  # bubblewrap, outside the sandbox
    channel: Channel
    plan: MountPlan
    cgroup: Cgroup | None
    server_pid: int  # the server (the sandbox's PID 1), in this process's PID namespace; 0
    # until it said it is ready (:meth:`await_ready`)
    owner: int = field(default_factory=os.getpid)
    held: list[tuple[str, Identity]] = field(default_factory=list)  # placeholders: identity
    mounts: bytes | None = None  # the sandbox's mount table once it started
    on_close: list[Callable[[], None]] = field(default_factory=list)
    broken: str | None = None
    commands: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _dead: bool = False
    _ready: threading.Event = field(default_factory=threading.Event)  # the start is over
    _start_error: BaseException | None = None

    @classmethod
    def start(cls, *args: Any, **options: Any) -> SandboxSession:
        """:meth:`launch` (same arguments), then wait until the server is ready; SessionError
        with bubblewrap's own words if it does not start."""
        session = cls.launch(*args, **options)
        session.await_ready()
        return session

    @classmethod
    def launch(
        cls,
        argv: Sequence[str],
        private: Sequence[str],
        limits: Sequence[tuple[str, int, int]],
        plan: MountPlan,
        *,
        env: Mapping[str, str],
        nice: int = 0,
        cgroup: Cgroup | None = None,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> SandboxSession:
        """Start bubblewrap (``argv``: everything before the command, cgroup join included)
        with the server and return at once (~1 ms): it sets itself up in parallel, and the
        first use (:meth:`usable_for`, :meth:`await_ready`) waits for its ready word.
        ``limits`` (rlimits) and ``nice`` (added to the server's niceness) are set on the
        server, which its commands inherit. A thread waits for the ready word and records,
        that moment, what the sandbox was built on (the placeholders' identities, the mount
        table): a path replaced between then and the first command changes them.
        bubblewrap's ``--die-with-parent`` follows the calling *thread*: call this from one
        that outlives the session."""
        host, inside = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = ",".join(f"{name}:{soft}:{hard}" for name, soft, hard in limits)
        server = [sys.executable, "-I", "-S", *server_program(), str(inside.fileno())]
        command = [*server, str(nice), spec]
        try:
            proc = subprocess.Popen(
                [*argv, "--", *command, *private],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(inside.fileno(),),
                start_new_session=True,
            )
        except BaseException as exc:
            host.close()
            if cgroup is not None:
                cgroup.remove()
            if isinstance(exc, OSError):
                raise SessionError(f"cannot start bubblewrap: {exc}") from exc
            raise
        finally:
            inside.close()
        host.setblocking(False)
        session = cls(proc, Channel(host), plan, cgroup, 0, on_close=list(on_close))
        waiter = threading.Thread(target=session._finish_start, name="claw-sandbox", daemon=True)
        waiter.start()
        return session

    def await_ready(self) -> None:
        """Wait until the start is over (at once if it is); SessionError with bubblewrap's own
        words if it did not start (the session is then closed)."""
        try:
            self._ready.wait()
        except BaseException:  # an interrupt while it starts: nothing may be left
            self.close()
            raise
        if self._start_error is not None:
            raise self._start_error

    def _finish_start(self) -> None:
        """The waiter: the server's ready word, its PID, and what the sandbox was built on,
        recorded the moment it is ready. A failed start closes the session."""
        try:
            try:
                ready = self.channel.receive(START_TIMEOUT_S)
            except SessionError:
                ready = None
            kids = children(self.proc.pid) if ready == {"ready": True} else []
            if len(kids) != 1:
                self.proc.kill()
                _, err = self.proc.communicate()
                said = err.decode(errors="replace").strip()[-500:] or "it did not answer"
                raise SessionError(f"the session sandbox did not start: {said}")
            self.server_pid = kids[0]
            self.held = [(p, identity(p)) for p in self.plan.placeholders]  # bubblewrap made them
            self.mounts = self.mount_table()
        except BaseException as exc:  # noqa: BLE001 -- said to whoever waits for the start
            self._start_error = exc if isinstance(exc, SessionError) else SessionError(str(exc))
            self.close()
        finally:
            self._ready.set()

    # -- state -------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """Killed, broken, gone, or not this process's (a forked copy)."""
        return (
            self._dead
            or self.broken is not None
            or os.getpid() != self.owner
            or self.proc.poll() is not None
        )

    def usable_for(self, plan: MountPlan) -> bool:
        """True if the next command may run here: same plan, alive, quiet, same process."""
        if self.ended:
            return False
        if plan != self.plan:
            return False
        try:
            self.await_ready()
        except SessionError as exc:
            logger.debug("claw_nb: %s", exc)
            return False
        if any(identity(p) != ident for p, ident in self.held):
            return False
        table = self.mount_table()
        return table is not None and table == self.mounts and not self.channel.pending()

    def mount_table(self) -> bytes | None:
        """The sandbox's mounts as its kernel lists them. Deleting or renaming a masked path
        on the host detaches or moves the mount in the sandbox (and the inode number of a
        file made in its place may well be the same): the table then differs."""
        try:
            with open(f"/proc/{self.server_pid}/mountinfo", "rb") as f:
                return f.read()
        except OSError:
            return None

    def processes(self) -> int:
        """Processes in the sandbox's PID namespace, the server included (its own /proc)."""
        return count_pids(f"/proc/{self.server_pid}/root/proc")

    def host_pid(self, ns_pid: int | None) -> int | None:
        """The PID, here, of the server's child that is ``ns_pid`` in the sandbox."""
        if ns_pid is None:
            return None
        for pid in children(self.server_pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("NSpid:"):
                            if line.split()[-1] == str(ns_pid):
                                return pid
                            break
            except OSError:
                continue
        return None

    # -- commands ----------------------------------------------------------------------------

    def run(
        self,
        request: dict,
        timeout: float,
        *,
        processes: int,
        output_log: OutputLog | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> CommandResult:
        """Run one command (``request``: argv, env, cwd, umask, rlimits) in the sandbox."""
        start = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        command = _RemoteCommand(self)
        try:
            try:
                self.channel.send(request, (out_w, err_w))
            except OSError as exc:
                self.broken = f"cannot reach the sandbox's command server: {exc}"
                self.kill()
                raise SessionError(self.broken) from exc
            finally:
                os.close(out_w)
                os.close(err_w)
            self.commands += 1
            return supervise(
                command,
                out_r,
                err_r,
                timeout,
                supervisor=_SessionSupervisor(self, processes),
                output_log=output_log,
                stop=stop,
                start=start,
            )
        finally:
            os.close(out_r)
            os.close(err_r)

    # -- the end -----------------------------------------------------------------------------

    def kill(self) -> None:
        """End the sandbox now: killing its PID 1 makes the kernel kill all of it."""
        with self._lock:
            if self._dead:
                return
            self._dead = True
        if os.getpid() != self.owner:
            return  # a forked copy: the sandbox is the parent's
        for pid in [self.server_pid] if self.server_pid else children(self.proc.pid):
            kill_pid(pid, signal.SIGKILL)
        try:
            self.proc.kill()
        except OSError:
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        """Kill the sandbox, wait for bubblewrap, remove the cgroup, release the placeholders."""
        self.kill()
        if os.getpid() != self.owner:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stderr,):
            if stream is not None:
                stream.close()
        try:
            self.channel.sock.close()
        except OSError:
            pass
        if self.cgroup is not None:
            self.cgroup.remove()
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback()
