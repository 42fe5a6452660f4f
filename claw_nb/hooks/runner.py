"""Running one hook command on the host: JSON on stdin, output captured, a hard deadline.

Hooks are the user's own programs, so they run outside the sandbox, in the workspace, with the
user's environment. What they may not do is hang the agent: the command gets its own process
group, and at the deadline the whole group is killed (SIGTERM, then SIGKILL). Output is read
with one selector loop that also feeds stdin, so a hook that never reads its input, or a
background child that keeps the pipes open, cannot block us past the deadline.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from claw_nb.records import record

MAX_OUTPUT_BYTES = 64 * 1024  # per stream; more is read and dropped
KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL of a hook's process group


@record(frozen=True)
class CommandRun:
    """How one hook command ended, before anyone interprets it."""

    exit_code: int | None  # negative: killed by that signal; None: timed out or never started
    stdout: str
    stderr: str
    duration_ms: float
    timed_out: bool = False
    error: str | None = None  # it could not be started (the reason)


def shell_argv(command: str) -> list[str]:
    """`command` as a shell line: bash when there is one (Claude Code's hooks are bash), else sh."""
    return [shutil.which("bash") or "/bin/sh", "-c", command]


def run_command(
    command: str, stdin: bytes, *, cwd: Path, env: dict[str, str], timeout: float
) -> CommandRun:
    """Run `command` with `stdin`, for at most `timeout` seconds; never raises for the
    command's own failures."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            shell_argv(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: killed as one at the deadline
        )
    except OSError as exc:
        return CommandRun(None, "", "", _ms(started), error=f"could not start: {exc}")
    try:
        out, err, finished = _exchange(proc, stdin, started + timeout)
    except BaseException:  # Ctrl-C in the agent: the hook goes with it
        _close(proc)
        _kill_group(proc)
        raise
    if not finished:
        _kill_group(proc)
    exit_code = _reap(proc)
    return CommandRun(
        None if not finished else exit_code,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        _ms(started),
        timed_out=not finished,
    )


def _exchange(proc: subprocess.Popen, stdin: bytes, deadline: float) -> tuple[bytes, bytes, bool]:
    """Write stdin and read both outputs until they close and the process exits, or until
    the deadline: (stdout, stderr, finished in time)."""
    assert proc.stdin and proc.stdout and proc.stderr
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                out, err = (
                    bytes(buffers[proc.stdout.fileno()]),
                    bytes(buffers[proc.stderr.fileno()]),
                )
                _close(proc)
                return out, err, False
            for key, _ in selector.select(remaining):
                fd = key.fd
                if fd in buffers:
                    chunk = _read(fd)
                    if chunk is None:
                        continue
                    if not chunk:
                        selector.unregister(fd)
                    elif len(buffers[fd]) < MAX_OUTPUT_BYTES:
                        buffers[fd] += chunk[: MAX_OUTPUT_BYTES - len(buffers[fd])]
                    continue
                try:
                    written = os.write(fd, pending[:65536])
                    pending = pending[written:]
                except BlockingIOError:
                    continue
                except OSError:  # the hook closed its stdin without reading it all
                    pending = pending[:0]
                if not pending:
                    selector.unregister(fd)
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
    out, err = bytes(buffers[proc.stdout.fileno()]), bytes(buffers[proc.stderr.fileno()])
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # closed its output but goes on running
        _close(proc)
        return out, err, False
    _close(proc)
    return out, err, True


def _read(fd: int) -> bytes | None:
    """The next chunk; b"" at end of file, None when nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


def _close(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the hook's process group, then SIGKILL what is left after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGTERM:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILL_GRACE_S)
    # children left in the group after the leader died still get the SIGKILL above


def _reap(proc: subprocess.Popen) -> int | None:
    try:
        return proc.wait(timeout=KILL_GRACE_S * 5)
    except subprocess.TimeoutExpired:  # unkillable (stuck in the kernel): leave it
        return None


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
