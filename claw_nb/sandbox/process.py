"""The engine every runner shares: spawn a command, supervise it, capture its output."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from claw_nb.claw_dir import OUTPUTS_DIR
from claw_nb.protocols import CommandResult
from claw_nb.realpaths import realpath
from claw_nb.sandbox.capture import (
    HEAD_BYTES,
    SAVE_OVER_BYTES,
    TAIL_BYTES,
    CappedBuffer,
    OutputLog,
)
from claw_nb.sandbox.settings import SandboxSettings

KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL
PIPE_GRACE_S = 0.5  # how long to keep reading after the main process exited
WATCHDOG_INTERVAL_S = 0.02  # how often process counts (and the user's stop) are checked
STOPPED = "stopped by the user"  # the killed reason when the run's stop killed the command
_CHUNK = 65536


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_pid(pid: int | None, sig: int) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Supervisor:
    """How :func:`run_capped` checks and stops a command; the default acts on its process group."""

    proc: subprocess.Popen

    def started(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def check(self) -> str | None:
        """Called every ``WATCHDOG_INTERVAL_S`` while the command runs: a reason to kill it now."""
        return None

    def terminate(self) -> None:
        signal_group(self.proc.pid, signal.SIGTERM)

    def kill(self, force: bool = False) -> None:
        """Kill the command now; ``force``: the polite kill did not end it, use every means."""
        signal_group(self.proc.pid, signal.SIGKILL)

    def finish(self, returncode: int | None) -> tuple[int | None, str | None]:
        """(exit code to report, a limit that killed the command, if known)."""
        return returncode, None

    def cleanup(self) -> None:
        """Make sure nothing of the command survives; release resources. Always called."""
        signal_group(self.proc.pid, signal.SIGKILL)


def run_capped(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    head_bytes: int = HEAD_BYTES,
    tail_bytes: int = TAIL_BYTES,
    *,
    supervisor: Supervisor | None = None,
    output_log: OutputLog | None = None,
    pass_fds: Sequence[int] = (),
    stop: Callable[[], bool] | None = None,
) -> CommandResult:
    """Run ``argv`` in a new session with stdin closed, a timeout and capped output capture.

    On timeout the supervisor terminates the command (default: SIGTERM to the process group),
    then kills it after ``KILL_GRACE_S``; ``stop()`` turning true kills it at once. When the
    main process exits, processes it left behind are killed too, so nothing it started keeps
    running (or keeps the pipes open).
    """
    sup = supervisor or Supervisor()
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    try:
        return supervise(
            proc,
            proc.stdout.fileno(),
            proc.stderr.fileno(),
            timeout,
            supervisor=sup,
            output_log=output_log,
            stop=stop,
            head_bytes=head_bytes,
            tail_bytes=tail_bytes,
            start=start,
        )
    finally:
        proc.stdout.close()
        proc.stderr.close()


class Process(Protocol):
    """What :func:`supervise` needs of the command: a ``subprocess.Popen``, or a command that
    a session sandbox's server runs (:mod:`claw_nb.sandbox.session`)."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def supervise(
    proc: Process,
    stdout: int,
    stderr: int,
    timeout: float,
    *,
    supervisor: Supervisor,
    output_log: OutputLog | None = None,
    stop: Callable[[], bool] | None = None,
    head_bytes: int = HEAD_BYTES,
    tail_bytes: int = TAIL_BYTES,
    start: float | None = None,
) -> CommandResult:
    """Read the command's two pipes (file descriptors, closed by the caller) until it and its
    processes are gone, enforcing the timeout, the supervisor's checks and ``stop``."""
    sup = supervisor
    start = time.monotonic() if start is None else start
    deadline = start + max(0.0, timeout)
    sup.started(proc)
    stdout_buf = CappedBuffer(head_bytes, tail_bytes)
    stderr_buf = CappedBuffer(head_bytes, tail_bytes)
    bufs = {stdout: stdout_buf, stderr: stderr_buf}
    sel = selectors.DefaultSelector()
    for fd in (stdout, stderr):
        sel.register(fd, selectors.EVENT_READ)
    timed_out = False
    reason: str | None = None
    term_at: float | None = None
    kill_at: float | None = None
    exited_at: float | None = None
    last_check = start
    try:
        while True:
            now = time.monotonic()
            alive = proc.poll() is None
            if not alive and exited_at is None:
                exited_at = now
            if not alive and not sel.get_map():
                break
            if term_at is None and kill_at is None:
                if alive and stop is not None and stop():
                    reason, kill_at = STOPPED, now
                    sup.kill()
                elif now >= deadline:
                    timed_out, reason, term_at = True, "timeout", now
                    sup.terminate()
                elif alive and now - last_check >= WATCHDOG_INTERVAL_S:
                    last_check = now
                    why = sup.check()
                    if why:
                        reason, kill_at = why, now
                        sup.kill()
                elif not alive and now - exited_at >= PIPE_GRACE_S:
                    kill_at = now  # the main process is gone but children keep the pipes open
                    sup.kill()
            if term_at is not None and kill_at is None and now - term_at >= KILL_GRACE_S:
                kill_at = now
                sup.kill()
            if kill_at is not None and now - kill_at >= 3.0:
                if not alive:
                    break  # something we cannot reach holds the pipes; stop waiting
                sup.kill(force=True)
                kill_at = now
            if not sel.get_map():  # pipes closed, the main process still runs: wait for its
                try:  # exit, returning the moment it comes (a fixed sleep cost ~10 ms a command)
                    proc.wait(timeout=0.01)
                except subprocess.TimeoutExpired:
                    pass
                continue
            wait = 0.1 if exited_at is None else 0.05
            if term_at is None and kill_at is None:
                wait = min(wait, max(0.0, deadline - now), WATCHDOG_INTERVAL_S)
            for key, _ in sel.select(timeout=wait):
                try:
                    data = os.read(key.fd, _CHUNK)
                except OSError:
                    data = b""
                if data:
                    bufs[key.fd].feed(data)
                    if output_log is not None:
                        output_log.feed(data)
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
        try:
            if proc.poll() is None:
                sup.kill()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    sup.kill(force=True)
            proc.wait()
        finally:
            sup.cleanup()
    exit_code, limit = sup.finish(proc.returncode)
    return CommandResult(
        exit_code=exit_code,
        stdout=stdout_buf.text(),
        stderr=stderr_buf.text(),
        timed_out=timed_out,
        duration_ms=(time.monotonic() - start) * 1000.0,
        stdout_bytes=stdout_buf.total,
        stderr_bytes=stderr_buf.total,
        output_file=output_log.close() if output_log is not None else None,
        killed_reason=reason or limit,
    )


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads'), via /proc/PID/task/*/children."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def count_tree(root: int, cap: int) -> int:
    """Descendants of ``root`` (not itself), counting stops once past ``cap``."""
    count, todo = 0, children(root)
    while todo and count <= cap:
        pid = todo.pop()
        count += 1
        todo.extend(children(pid))
    return count


def count_pids(proc_dir: str) -> int:
    try:
        return sum(1 for name in os.listdir(proc_dir) if name.isdigit())
    except OSError:
        return 0


class RunnerBase:
    name = "base"
    sandboxed = False
    fallback_reason: str | None = None
    fallback_announced = False  # the reason was already said (logged) once

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        workspace: Path | None = None,
        *,
        output_dir: Path | None = None,
    ):
        self.settings = settings or SandboxSettings()
        self.workspace = Path(workspace).resolve() if workspace is not None else None
        if output_dir is None and self.workspace is not None:
            output_dir = self.workspace / OUTPUTS_DIR
        self.output_dir = Path(output_dir) if output_dir is not None else None

    def close(self) -> None:
        """Release what the runner keeps between commands (nothing, unless it says so)."""

    def _output_log(self) -> OutputLog | None:
        if self.output_dir is None:
            return None
        if self.workspace is not None and _leads_elsewhere(self.output_dir, self.workspace):
            return None  # `.claw/outputs` made a link (a cloned repo, a plain-mode command)
        return OutputLog(self.output_dir, SAVE_OVER_BYTES, self.settings.max_output_file_mb << 20)

    def _limit_note(self, code: int | None) -> str | None:
        s = self.settings
        if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) and s.cpu_seconds:
            return f"CPU time limit ({s.cpu_seconds} s)"
        if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) and s.file_size_mb:
            return f"file size limit ({s.file_size_mb} MB)"
        return None

    def _result(self, res: CommandResult) -> CommandResult:
        if res.killed_reason is None:
            note = self._limit_note(res.exit_code)
            if note:
                return replace(res, killed_reason=note)
        return res


def _leads_elsewhere(directory: Path, workspace: Path) -> bool:
    """True when a folder inside the workspace is reached through a link (the host would write
    where someone else pointed it)."""
    lexical = os.path.normpath(directory)
    if not lexical.startswith(str(workspace) + os.sep):
        return False
    real, parent = realpath(lexical), lexical
    while not os.path.lexists(parent) and parent != str(workspace):
        parent = os.path.dirname(parent)
    return realpath(parent) != parent or (os.path.lexists(lexical) and real != lexical)
