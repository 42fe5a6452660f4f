"""Running shell commands for the agent.

:class:`PlainRunner` runs ``bash -c`` directly (no isolation). :func:`run_capped` holds the
machinery any runner can reuse: start an argv in its own session, enforce a timeout on the whole
process group, and capture stdout/stderr with bounded memory (head + tail of each stream).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL
PIPE_GRACE_S = 0.5  # how long to keep reading after the main process exited
_CHUNK = 65536


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # negative: killed by that signal; None: unknown (runner-specific)
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: float
    stdout_bytes: int  # total bytes the command wrote, including any omitted middle part
    stderr_bytes: int


class CommandRunner(Protocol):
    name: str

    def run(self, command: str, cwd: Path, timeout: float) -> CommandResult: ...


class CappedBuffer:
    """Keeps the first ``head`` and last ``tail`` bytes of a stream, counting all bytes."""

    def __init__(self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES):
        self.head_limit = head
        self.tail_limit = tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit > 0:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:  # trim now and then, not on every chunk
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
        omitted = self.total - len(self.head) - len(tail)
        head_text = self.head.decode("utf-8", errors="replace")
        tail_text = tail.decode("utf-8", errors="replace")
        if omitted > 0:
            return f"{head_text}\n... [{omitted} bytes omitted] ...\n{tail_text}"
        return head_text + tail_text


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run_capped(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    head_bytes: int = HEAD_BYTES,
    tail_bytes: int = TAIL_BYTES,
) -> CommandResult:
    """Run ``argv`` in a new session with stdin closed, a timeout and capped output capture.

    On timeout the whole process group gets SIGTERM, then SIGKILL after ``KILL_GRACE_S``. When the
    main process exits, processes it left behind in its group are killed too, so nothing it
    started keeps running (or keeps the pipes open) after the call returns.
    """
    start = time.monotonic()
    deadline = start + max(0.0, timeout)
    proc = subprocess.Popen(
        list(argv),
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    pgid = proc.pid  # session leader: its pid is the group id
    stdout_buf = CappedBuffer(head_bytes, tail_bytes)
    stderr_buf = CappedBuffer(head_bytes, tail_bytes)
    bufs = {proc.stdout.fileno(): stdout_buf, proc.stderr.fileno(): stderr_buf}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f.fileno(), selectors.EVENT_READ)
    timed_out = False
    term_sent_at: float | None = None
    killed = False
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                term_sent_at = now
                _signal_group(pgid, signal.SIGTERM)
            if term_sent_at is not None and not killed and now - term_sent_at >= KILL_GRACE_S:
                killed = True
                _signal_group(pgid, signal.SIGKILL)
            if killed and term_sent_at is not None and now - term_sent_at >= KILL_GRACE_S + 2:
                break  # something outside the group holds the pipes; stop waiting
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= PIPE_GRACE_S and not killed:
                # the main process is gone but children keep the pipes open: end them
                killed = True
                term_sent_at = term_sent_at or now
                _signal_group(pgid, signal.SIGKILL)
            wait = 0.1 if exited_at is None else 0.05
            if not timed_out:
                wait = min(wait, max(0.0, deadline - now))
            for key, _ in sel.select(timeout=wait):
                try:
                    data = os.read(key.fd, _CHUNK)
                except OSError:
                    data = b""
                if data:
                    bufs[key.fd].feed(data)
                else:
                    sel.unregister(key.fd)
        # pipes are closed; the main process may still run (e.g. it closed its stdout)
        while proc.poll() is None:
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                term_sent_at = now
                _signal_group(pgid, signal.SIGTERM)
            if term_sent_at is not None and not killed and now - term_sent_at >= KILL_GRACE_S:
                killed = True
                _signal_group(pgid, signal.SIGKILL)
            time.sleep(0.02)
        # nothing started by the command may outlive it
        _signal_group(pgid, signal.SIGKILL)
    finally:
        sel.close()
        if proc.poll() is None:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return CommandResult(
        exit_code=proc.returncode,
        stdout=stdout_buf.text(),
        stderr=stderr_buf.text(),
        timed_out=timed_out,
        duration_ms=(time.monotonic() - start) * 1000.0,
        stdout_bytes=stdout_buf.total,
        stderr_bytes=stderr_buf.total,
    )


class PlainRunner:
    """Runs ``bash -c COMMAND`` directly on the host, in the given directory (no isolation)."""

    name = "plain"

    def __init__(self, shell: str = "bash", env: Mapping[str, str] | None = None):
        self.shell = shell
        self.env = env

    def run(self, command: str, cwd: Path, timeout: float) -> CommandResult:
        return run_capped([self.shell, "-c", command], cwd, timeout, env=self.env)
