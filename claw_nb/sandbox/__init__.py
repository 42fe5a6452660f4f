"""Running shell commands for the agent, inside an OS sandbox when one is available.

* :class:`BwrapRunner` runs every command under bubblewrap: the host filesystem read-only, the
  workspace writable, private ``/tmp`` and ``/run``, secrets under ``$HOME`` hidden, no network
  (unless allowed), its own PID/IPC/UTS namespaces, no capabilities. Killing the namespace's
  init kills everything the command started, daemons included.
* :class:`PlainRunner` runs the command directly on the host (no isolation) under a small
  supervisor process that is a *child subreaper*, so daemons that detach (``setsid``,
  double fork) stay its descendants and are killed when the command ends.

Both set rlimits (CPU time, address space, file size, processes, no core files), close stdin,
scrub secrets from the environment (:mod:`claw_nb.sandbox.exposure`), enforce a wall-clock timeout on
the whole process tree, keep the head and tail of the output in memory and save the full output
(capped) to ``<workspace>/.claw/outputs/``. Process counts are capped with a cgroup ``pids.max``
when a writable cgroup hierarchy with the pids controller exists, else by a watchdog that counts
the command's processes and kills them all past the limit (RLIMIT_NPROC does not bind root).

:func:`make_runner` picks bubblewrap when it is installed and can create namespaces, else the
plain runner with a one-time warning. See ``docs/security.md``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import resource
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from claw_nb.errors import SandboxSettingsError
from claw_nb.protocols import CommandResult, CommandRunner
from claw_nb.sandbox.exposure import scrub_env

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL
PIPE_GRACE_S = 0.5  # how long to keep reading after the main process exited
WATCHDOG_INTERVAL_S = 0.02  # how often process counts are checked
SAVE_OVER_BYTES = 30_000  # output above this is saved to a file (run_command shows ~30,000 chars)
KEEP_OUTPUT_FILES = 200  # older saved outputs are deleted
_CHUNK = 65536

INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
    "`sudo dnf install bubblewrap` (Fedora)"
)

# Secrets under a home directory, hidden inside the sandbox (relative to $HOME).
HOME_SECRETS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".config/op",
    ".config/rclone",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".yarnrc",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".terraform.d",
    ".vault-token",
    ".password-store",
    ".local/share/keyrings",
    ".pgpass",
    ".my.cnf",
    ".s3cfg",
    ".boto",
    ".databrickscfg",
    ".kaggle",
    ".huggingface",
    ".cache/huggingface/token",
    ".local/share/jupyter/runtime",  # kernel connection files: their keys run code in kernels
    ".ipython/profile_default/history.sqlite",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
)

# Host files readable by uid 0 even without capabilities (they are owned by root).
SYSTEM_SECRETS = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_*_key",
    "/etc/ssl/private",
)

# Directories under /run kept visible (read-only) over the private /run: DNS configuration.
RUN_KEEP = ("/run/systemd/resolve", "/run/resolvconf")


# ---------------------------------------------------------------------------------------------
# Results and the runner interface


# ---------------------------------------------------------------------------------------------
# Settings


_PATH_LISTS = ("writable", "hide", "read_only", "env_passthrough", "devices")
_COUNTS = ("cpu_seconds", "memory_mb", "file_size_mb", "processes", "max_output_file_mb")
_BOOLS = ("enabled", "network", "cgroup")


@dataclass(frozen=True)
class SandboxSettings:
    """The ``[sandbox]`` table of ``.claw/settings.toml``. Limits of 0 mean "no limit"."""

    enabled: bool = True  # false: run commands directly on the host (each needs approval)
    network: bool = False
    writable: tuple[str, ...] = ()  # extra writable paths (~ and workspace-relative allowed)
    hide: tuple[str, ...] = ()  # extra paths hidden inside the sandbox (globs allowed)
    # workspace paths the sandboxed command may not change: settings, git hooks and config
    read_only: tuple[str, ...] = (".claw", ".git/hooks", ".git/config")
    env_passthrough: tuple[str, ...] = ()  # secret-looking variables to pass anyway (globs ok)
    devices: tuple[str, ...] = ()  # host devices to expose, e.g. "/dev/nvidia*"
    cpu_seconds: int = 300
    memory_mb: int = 4096  # RLIMIT_AS (address space) per process
    file_size_mb: int = 1024
    processes: int = 512
    max_output_file_mb: int = 64
    cgroup: bool = True  # use a cgroup for process limits when one can be created
    bwrap_path: str = "bwrap"
    shell: str = "bash"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None, **overrides: Any):
        """Read the ``[sandbox]`` table of a settings dict; keyword overrides win (None = unset)."""
        table = (settings or {}).get("sandbox", {}) or {}
        if not isinstance(table, Mapping):
            raise SandboxSettingsError("[sandbox] must be a table")
        values = {**table, **{k: v for k, v in overrides.items() if v is not None}}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SandboxSettingsError(
                f"unknown [sandbox] setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(cls(), **{k: _coerce(k, v) for k, v in values.items()})


def _coerce(key: str, value: Any) -> Any:
    if key in _BOOLS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise SandboxSettingsError(f"[sandbox] {key} must be true or false, got {value!r}")
    if key in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SandboxSettingsError(f"[sandbox] {key} must be a number >= 0, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise SandboxSettingsError(
                f"[sandbox] {key} must be a number >= 0, got {value!r}"
            ) from None
        if number < 0:
            raise SandboxSettingsError(f"[sandbox] {key} must be a number >= 0, got {value!r}")
        return number
    if key in _PATH_LISTS:
        if isinstance(value, (str, os.PathLike)):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (str, os.PathLike)) for v in value
        ):
            raise SandboxSettingsError(f"[sandbox] {key} must be a list of strings, got {value!r}")
        return tuple(os.fspath(v) for v in value)
    if not isinstance(value, (str, os.PathLike)):
        raise SandboxSettingsError(f"[sandbox] {key} must be a string, got {value!r}")
    return os.fspath(value)


# ---------------------------------------------------------------------------------------------
# Output capture


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


class OutputLog:
    """The full output (stdout and stderr in arrival order) of one command, saved to a file once
    it passes ``threshold`` bytes. Past ``max_bytes`` the file keeps its start and the last
    ``tail_bytes``, with a marker for what was left out."""

    def __init__(
        self,
        directory: Path,
        threshold: int = SAVE_OVER_BYTES,
        max_bytes: int = 64 << 20,
        tail_bytes: int = 1 << 20,
    ):
        self.directory = Path(directory)
        self.threshold = threshold
        max_bytes = max_bytes if max_bytes > 0 else sys.maxsize
        self.tail_limit = min(tail_bytes, max_bytes // 4)
        self.head_limit = max_bytes - self.tail_limit
        self.max_bytes = max_bytes
        self.pending = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.written = 0
        self.path: Path | None = None
        self._file = None
        self._failed = False

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self._failed:
            return
        if self._file is None:
            self.pending += data
            if len(self.pending) > self.threshold:
                self._open()
                pending, self.pending = self.pending, bytearray()
                self._write(bytes(pending))
        else:
            self._write(data)

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.log"
            self.path = self.directory / name
            self._file = open(self.path, "wb")  # noqa: SIM115 -- closed in close()
            _prune_outputs(self.directory, KEEP_OUTPUT_FILES)
        except OSError:
            self._failed, self.path, self._file = True, None, None

    def _write(self, data: bytes) -> None:
        if self._file is None:
            return
        room = self.head_limit - self.written
        if room > 0:
            chunk = data[:room]
            try:
                self._file.write(chunk)
                self.written += len(chunk)
            except OSError:
                self._failed = True
                return
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def close(self) -> str | None:
        """Finish the file; its path, or None if nothing was saved."""
        if self._file is None:
            return None
        try:
            tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
            omitted = self.total - self.written - len(tail)
            if omitted > 0:
                self._file.write(
                    f"\n... [{omitted} bytes omitted: this file keeps the first "
                    f"{self.written} and the last {len(tail)} bytes] ...\n".encode()
                )
            self._file.write(tail)
            self._file.close()
        except OSError:
            pass
        self._file = None
        return str(self.path) if self.path else None


def _prune_outputs(directory: Path, keep: int) -> None:
    try:
        logs = sorted(p for p in directory.iterdir() if p.suffix == ".log")
    except OSError:
        return
    for old in logs[: max(0, len(logs) - keep)]:
        try:
            old.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The engine: spawn, supervise, capture


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _kill(pid: int | None, sig: int) -> None:
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
        _signal_group(self.proc.pid, signal.SIGTERM)

    def kill(self, force: bool = False) -> None:
        """Kill the command now; ``force``: the polite kill did not end it, use every means."""
        _signal_group(self.proc.pid, signal.SIGKILL)

    def finish(self, returncode: int | None) -> tuple[int | None, str | None]:
        """(exit code to report, a limit that killed the command, if known)."""
        return returncode, None

    def cleanup(self) -> None:
        """Make sure nothing of the command survives; release resources. Always called."""
        _signal_group(self.proc.pid, signal.SIGKILL)


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
) -> CommandResult:
    """Run ``argv`` in a new session with stdin closed, a timeout and capped output capture.

    On timeout the supervisor terminates the command (default: SIGTERM to the process group),
    then kills it after ``KILL_GRACE_S``. When the main process exits, processes it left behind
    are killed too, so nothing it started keeps running (or keeps the pipes open).
    """
    sup = supervisor or Supervisor()
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
        pass_fds=tuple(pass_fds),
    )
    sup.started(proc)
    stdout_buf = CappedBuffer(head_bytes, tail_bytes)
    stderr_buf = CappedBuffer(head_bytes, tail_bytes)
    bufs = {proc.stdout.fileno(): stdout_buf, proc.stderr.fileno(): stderr_buf}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f.fileno(), selectors.EVENT_READ)
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
                if now >= deadline:
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
            if not sel.get_map():
                time.sleep(0.01)  # pipes closed, the main process still runs
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
            proc.stdout.close()
            proc.stderr.close()
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


# ---------------------------------------------------------------------------------------------
# Process accounting: /proc helpers, rlimits, cgroups


def _children(pid: int) -> list[int]:
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


def _count_tree(root: int, cap: int) -> int:
    """Descendants of ``root`` (not itself), counting stops once past ``cap``."""
    count, todo = 0, _children(root)
    while todo and count <= cap:
        pid = todo.pop()
        count += 1
        todo.extend(_children(pid))
    return count


def _count_pids(proc_dir: str) -> int:
    try:
        return sum(1 for name in os.listdir(proc_dir) if name.isdigit())
    except OSError:
        return 0


def _system_threads() -> int:
    """Tasks on the whole machine (from /proc/loadavg): an upper bound for one user's count."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return 0


def _rlimits(settings: SandboxSettings, own_user_ns: bool = False) -> list[tuple[str, int, int]]:
    """(RLIMIT_ name, soft, hard) to set, never above the current hard limits.

    The CPU hard limit is a few seconds above the soft one, so the command first gets SIGXCPU
    (reported as "CPU time limit") and only then SIGKILL. ``own_user_ns``: the limits are set
    inside a fresh user namespace, where RLIMIT_NPROC counts only that namespace's tasks.
    """
    wanted = [("RLIMIT_CORE", 0, 0)]
    if settings.cpu_seconds:
        wanted.append(("RLIMIT_CPU", settings.cpu_seconds, settings.cpu_seconds + 5))
    if settings.memory_mb:
        wanted.append(("RLIMIT_AS", settings.memory_mb << 20, settings.memory_mb << 20))
    if settings.file_size_mb:
        wanted.append(("RLIMIT_FSIZE", settings.file_size_mb << 20, settings.file_size_mb << 20))
    if settings.processes:
        # Outside a fresh user namespace RLIMIT_NPROC counts *all* tasks of the user, so allow
        # what already runs plus the limit. The kernel ignores it for root: see the cgroup and
        # the watchdog.
        n = settings.processes + (3 if own_user_ns else _system_threads())
        wanted.append(("RLIMIT_NPROC", n, n))
    out = []
    for name, soft, hard in wanted:
        _, current_hard = resource.getrlimit(getattr(resource, name))
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        out.append((name, soft, hard))
    return out


def _ulimit_command(limits: list[tuple[str, int, int]]) -> str:
    """bash ``ulimit`` commands setting :func:`_rlimits` values (soft first, then hard)."""
    flag = {
        "RLIMIT_CORE": ("-c", 1024),
        "RLIMIT_CPU": ("-t", 1),
        "RLIMIT_AS": ("-v", 1024),
        "RLIMIT_FSIZE": ("-f", 1024),
        "RLIMIT_NPROC": ("-u", 1),
    }
    soft = " ".join(f"{flag[n][0]} {max(0, v // flag[n][1])}" for n, v, _ in limits)
    hard = " ".join(f"{flag[n][0]} {max(0, v // flag[n][1])}" for n, _, v in limits)
    return f"ulimit -S {soft} && ulimit -H {hard}"


@dataclass
class _CgroupBase:
    path: Path
    pids: bool  # the pids controller is available in child cgroups (pids.max)
    kill_file: bool  # cgroup v2 cgroup.kill


_cgroup_base_cache: dict[str, _CgroupBase | None] = {}
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


def _probe_base(base: Path, pids: bool) -> _CgroupBase | None:
    probe = base / f"claw-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
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
    return _CgroupBase(base, pids and has_max, kill_file)


def _find_cgroup_base() -> _CgroupBase | None:
    """Where per-command cgroups can be made (cached): the cgroup v1 pids hierarchy, else
    cgroup v2 (with pids.max when the controller is enabled there, else for tracking only)."""
    with _cgroup_lock:
        if "base" in _cgroup_base_cache:
            return _cgroup_base_cache["base"]
        own = _own_cgroups()
        found: _CgroupBase | None = None
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
        cg = _Cgroup.__new__(_Cgroup)
        cg.path, cg.kill_file, cg.limited = base / name, False, False
        cg.remove(wait=0.0)


class _Cgroup:
    """One command's cgroup: joins it before exec, caps tasks, kills all members at the end."""

    def __init__(self, base: _CgroupBase, limit: int):
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
                _kill(pid, signal.SIGKILL)
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


def _make_cgroup(settings: SandboxSettings, slack: int) -> _Cgroup | None:
    if not settings.cgroup:
        return None
    base = _find_cgroup_base()
    if base is None:
        return None
    try:
        return _Cgroup(base, settings.processes + slack if settings.processes else 0)
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Environment and paths


def _command_env(settings: SandboxSettings, extra: Mapping[str, str] | None = None) -> dict:
    env, _removed = scrub_env(os.environ, settings.env_passthrough)
    if extra:
        env.update(extra)
    return env


def _homes() -> list[Path]:
    homes = []
    for h in (os.environ.get("HOME"), _passwd_home()):
        if h and os.path.isabs(h):
            p = Path(os.path.realpath(h))
            if p not in homes and p != Path("/"):
                homes.append(p)
    return homes


def _passwd_home() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None


def _expand(entry: str, workspace: Path) -> list[Path]:
    """Absolute, symlink-resolved existing paths for a settings entry (~, globs, relative)."""
    raw = os.path.expanduser(entry)
    if not os.path.isabs(raw):
        raw = os.path.join(workspace, raw)
    matches = glob.glob(raw) if glob.has_magic(raw) else [raw]
    out = []
    for m in matches:
        if os.path.lexists(m):
            out.append(Path(os.path.realpath(m)))
    return out


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _jupyter_runtime_dirs() -> list[Path]:
    out = []
    runtime = os.environ.get("JUPYTER_RUNTIME_DIR")
    if runtime:
        out.append(Path(runtime))
    data = os.environ.get("JUPYTER_DATA_DIR")
    if data:
        out.append(Path(data) / "runtime")
    return out


# ---------------------------------------------------------------------------------------------
# Plain runner


# The supervisor process of the plain runner, run as ``python -I -S -c HELPER ARGS...``. It
# joins the command's cgroup (if any), becomes a child subreaper (orphans of the command are
# re-parented to it, so setsid/double-fork daemons stay in reach), starts the command in its own
# session with the rlimits, counts the command's processes when asked to and kills them all past
# the limit, and when the command ends (or on SIGTERM after a grace period, or on SIGUSR1 at
# once) kills every descendant left. It reports "pid N", then "exit N" / "signal N" /
# "limit processes" and "done" on the status fd. ARGS: status fd, parent pid, grace seconds,
# process limit (0: none), cgroup.procs path or "", "RLIMIT_X:soft:hard,...", the command argv.
_PLAIN_HELPER = r"""
import ctypes, os, resource, select, sys, time
import _signal as signal  # not `signal`: it imports enum, which costs milliseconds
sfd, parent, grace, limit, cg, limits = sys.argv[1:7]
argv = sys.argv[7:]
sfd, parent, grace, limit = int(sfd), int(parent), float(grace), int(limit)
os.set_inheritable(sfd, False)
def report(line):
    try:
        os.write(sfd, (line + "\n").encode())
    except OSError:
        pass
if cg:
    try:
        with open(cg, "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        report("nocgroup")
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit(1)
me = os.getpid()
rfd, wfd = os.pipe()
for fd in (rfd, wfd):
    os.set_blocking(fd, False)
    os.set_inheritable(fd, False)
signal.set_wakeup_fd(wfd)
stop, now_please = [], []
signal.signal(signal.SIGCHLD, lambda *a: None)
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, lambda *a: stop.append(1))
signal.signal(signal.SIGUSR1, lambda *a: now_please.append(1))
pid = os.fork()
if pid == 0:
    try:
        os.setsid()  # own session: own process group, and own autogroup (CPU share)
        signal.set_wakeup_fd(-1)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1,
                  signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(s, signal.SIG_DFL)
        for item in filter(None, limits.split(",")):
            name, soft, hard = item.split(":")
            resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
        os.execvp(argv[0], argv)
    except BaseException as e:
        os.write(2, ("claw: cannot run %s: %s\n" % (argv[0], e)).encode())
    os._exit(127)
report("pid %d" % pid)
def children(p):
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % p)
    except OSError:
        return out
    for t in tids:
        try:
            with open("/proc/%d/task/%s/children" % (p, t)) as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return out
def descendants(cap):
    seen, todo = [], children(me)
    while todo and len(seen) <= cap:
        p = todo.pop()
        seen.append(p)
        todo.extend(children(p))
    return seen
def signal_all(sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass
    for p in descendants(1 << 30):
        try:
            os.kill(p, sig)
        except OSError:
            pass
status = None
def reap():
    # a bounded pass: under a fork bomb orphans die and come to us without end, and the
    # process count must still be checked between passes
    global status
    for _ in range(256):
        try:
            p, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if p == 0:
            return True
        if p == pid:
            status = st
    return True
term_at = None
over = False
last_count = 0.0
while status is None:
    try:
        select.select([rfd], [], [], 0.05)
        while os.read(rfd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass
    reap()
    now = time.monotonic()
    if now_please:
        break
    if stop and term_at is None:
        term_at = now
        signal_all(signal.SIGTERM)
    if term_at is not None and now - term_at > grace:
        break
    if limit and now - last_count >= 0.02:
        last_count = now
        if len(descendants(limit)) > limit:
            over = True
            break
# every descendant is ours (subreaper): kill until none is left, however many rounds it takes
end = time.monotonic() + 60
clean = False
while time.monotonic() < end:
    signal_all(signal.SIGKILL)
    if not reap():
        clean = True
        break
    time.sleep(0.001)
if over:
    report("limit processes")
if status is not None:
    if os.WIFSIGNALED(status):
        report("signal %d" % os.WTERMSIG(status))
    else:
        report("exit %d" % os.WEXITSTATUS(status))
if clean:
    report("done")  # no descendant is left
"""


class _PlainSupervisor(Supervisor):
    def __init__(self, status_fd: int, cgroup: _Cgroup | None, processes: int):
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
            kids = _children(self.proc.pid)
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
        if _count_tree(self.proc.pid, self.processes) > self.processes:
            return limit
        return None

    def kill(self, force: bool = False) -> None:
        # The command's processes first, while the helper lives to reap them (orphans of a
        # dead helper go to pid 1, which does not always reap); then the helper is told to
        # kill whatever is left and exit. SIGKILL for the helper only if that did not work.
        child = self._child()
        if child:  # the command's session: one atomic kill, forks are held off meanwhile
            _signal_group(child, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all(spare=self.proc.pid)
        _kill(self.proc.pid, signal.SIGUSR1)
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
            _signal_group(self.child_pgid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.remove()
        try:
            os.close(self.status_fd)
        except OSError:
            pass


class _RunnerBase:
    name = "base"
    sandboxed = False
    fallback_reason: str | None = None

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
            output_dir = self.workspace / ".claw" / "outputs"
        self.output_dir = Path(output_dir) if output_dir is not None else None

    def _output_log(self) -> OutputLog | None:
        if self.output_dir is None:
            return None
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


class PlainRunner(_RunnerBase):
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

    def run(self, command: str, cwd: Path, timeout: float) -> CommandResult:
        s = self.settings
        cgroup = _make_cgroup(s, slack=2)  # the helper and the shell itself
        kernel_capped = cgroup is not None and cgroup.limited
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        limits = ",".join(f"{name}:{soft}:{hard}" for name, soft, hard in _rlimits(s))
        argv = [
            sys.executable, "-I", "-S", "-c", _PLAIN_HELPER,
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
                env=_command_env(s, self.env),
                supervisor=sup,
                output_log=self._output_log(),
                pass_fds=(wfd,),
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


# ---------------------------------------------------------------------------------------------
# Bubblewrap runner


_NS_FLAGS = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
)


def _cap_flags() -> list[str]:
    # As real root, bwrap keeps every capability inside unless told otherwise.
    return ["--cap-drop", "ALL"] if os.geteuid() == 0 else []


class _BwrapSupervisor(Supervisor):
    """Finds the namespace's init (bwrap's child); killing it kills the whole PID namespace."""

    def __init__(self, cgroup: _Cgroup | None, processes: int):
        self.cgroup = cgroup
        self.processes = processes
        self.init_pid: int | None = None

    def _init(self) -> int | None:
        if self.init_pid is None:
            kids = _children(self.proc.pid)
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
        if _count_pids(proc_dir) > threshold:
            return limit
        return None

    def terminate(self) -> None:
        init = self._init()
        if init is None:
            super().terminate()
            return
        # the sandbox's process group (led by init, which ignores it) gets SIGTERM
        _signal_group(init, signal.SIGTERM)

    def kill(self, force: bool = False) -> None:
        # Nothing here may fork: under a fork bomb there may be no process slot left.
        # bwrap's init calls setsid, so the whole sandbox is one process group led by init:
        # kill the group in one go (forks are held off meanwhile), then init itself, whose
        # death makes the kernel kill anything left in the namespace (setsid escapees).
        init = self._init()
        if init is not None:
            _signal_group(init, signal.SIGKILL)
        _kill(init, signal.SIGKILL)
        super().kill()
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()


class BwrapRunner(_RunnerBase):
    """Runs ``bash -c COMMAND`` inside bubblewrap (see the module docstring)."""

    name = "bubblewrap"
    sandboxed = True

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        workspace: Path | None = None,
        *,
        output_dir: Path | None = None,
        bwrap: str | None = None,
    ):
        super().__init__(settings, workspace, output_dir=output_dir)
        path = bwrap or shutil.which(self.settings.bwrap_path) or self.settings.bwrap_path
        self.bwrap = path
        try:
            setuid = bool(os.stat(path).st_mode & stat.S_ISUID)
        except OSError:
            setuid = False
        # unprivileged, bwrap makes a user namespace (a setuid bwrap does not)
        self.user_namespace = os.geteuid() != 0 and not setuid

    def _masks(self, workspace: Path) -> list[Path]:
        entries: list[Path] = []
        for home in _homes():
            for rel in HOME_SECRETS:
                p = home / rel
                if os.path.lexists(p):
                    entries.append(Path(os.path.realpath(p)))
        entries += [p for p in _jupyter_runtime_dirs() if p.exists()]
        for pattern in SYSTEM_SECRETS:
            entries += [Path(p) for p in glob.glob(pattern)]
        for entry in self.settings.hide:
            entries += _expand(entry, workspace)
        out: list[Path] = []
        for p in entries:
            if p not in out and p != Path("/"):
                out.append(p)
        return out

    @staticmethod
    def _mask_args(path: Path) -> list[str]:
        if path.is_dir():
            return ["--tmpfs", str(path)]
        return ["--ro-bind", "/dev/null", str(path)]

    def bwrap_args(self, cwd: Path, workspace: Path) -> list[str]:
        """The bubblewrap options (everything before the command)."""
        s = self.settings
        a = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        a += ["--tmpfs", "/tmp"]
        for d in ("/var/tmp", "/run"):
            if os.path.isdir(d) and not os.path.islink(d):
                a += ["--tmpfs", d]
        for keep in RUN_KEEP:
            if os.path.isdir(keep):
                a += ["--ro-bind", keep, keep]
        for dev in s.devices:
            for p in glob.glob(dev):
                a += ["--dev-bind", p, p]
        masks = self._masks(workspace)
        # a mask that contains the workspace goes first, so the workspace is bound back over it
        a += [x for m in masks if _is_within(workspace, m) for x in self._mask_args(m)]
        a += ["--bind", str(workspace), str(workspace)]
        for entry in s.writable:
            for p in _expand(entry, workspace):
                a += ["--bind", str(p), str(p)]
        a += [x for m in masks if not _is_within(workspace, m) for x in self._mask_args(m)]
        for entry in s.read_only:
            for p in _expand(entry, workspace):
                if _is_within(p, workspace) and p != workspace:
                    a += ["--ro-bind", str(p), str(p)]
        a += ["--chdir", str(cwd), *_NS_FLAGS, *_cap_flags()]
        if not s.network:
            a.append("--unshare-net")
        return a

    def argv(self, command: str, cwd: Path, workspace: Path) -> list[str]:
        # rlimits are set inside the sandbox (in a fresh user namespace RLIMIT_NPROC then counts
        # only the sandbox's tasks), then the user's command gets a clean `bash -c`.
        prelude = (
            f"{{ {_ulimit_command(_rlimits(self.settings, self.user_namespace))}; }} || exit 126; "
            'exec -a "$0" "$BASH" -c "$1"'
        )
        shell = self.settings.shell
        return [*self.bwrap_args(cwd, workspace), "--", shell, "-c", prelude, shell, command]

    def run(self, command: str, cwd: Path, timeout: float) -> CommandResult:
        s = self.settings
        cwd = Path(cwd).resolve()
        workspace = self.workspace or cwd
        if ".claw" in s.read_only:
            # made here if missing, so it is mounted read-only: otherwise the command could
            # create .claw/settings.toml and loosen the sandbox for the next session
            try:
                (workspace / ".claw").mkdir(exist_ok=True)
            except OSError:
                pass
        argv = self.argv(command, cwd, workspace)
        cgroup = _make_cgroup(s, slack=3)  # outer bwrap, its init, the shell
        if cgroup is not None:
            join = 'echo $$ > "$0" 2>/dev/null; exec "$@"'
            argv = ["/bin/sh", "-c", join, str(cgroup.procs_file), *argv]
        env = _command_env(s, {"TMPDIR": "/tmp", "CLAW_SANDBOX": "bubblewrap"})
        sup = _BwrapSupervisor(cgroup, s.processes)
        try:
            res = run_capped(
                argv, cwd, timeout, env=env, supervisor=sup, output_log=self._output_log()
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        return self._result(res)

    def describe(self, command: str = "...") -> str:
        """The full command line, for debugging."""
        ws = self.workspace or Path.cwd()
        return shlex.join(self.argv(command, ws, ws))


# ---------------------------------------------------------------------------------------------
# Choosing a runner


_probe_cache: dict[tuple[str, int], tuple[bool, str]] = {}
_warned: set[str] = set()
_probe_lock = threading.Lock()


def bwrap_status(bwrap_path: str = "bwrap") -> tuple[bool, str]:
    """(usable, why not) for bubblewrap at ``bwrap_path``: found, and a trivial sandbox with
    every namespace we use really starts. Cached per path."""
    path = shutil.which(bwrap_path)
    if path is None:
        return False, (
            f"bubblewrap (bwrap) was not found (looked for {bwrap_path!r}), so commands run "
            f"WITHOUT an OS sandbox and each one needs approval; to sandbox them, {INSTALL_HINT}"
        )
    key = (os.path.realpath(path), os.geteuid())
    with _probe_lock:
        if key in _probe_cache:
            return _probe_cache[key]
        argv = [
            path,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            *_NS_FLAGS,
            *_cap_flags(),
            "--unshare-net",
            "true",
        ]
        try:
            p = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=20,
                text=True,
                check=False,
            )
            ok, err = p.returncode == 0, (p.stderr or "").strip() or f"exit code {p.returncode}"
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, err = False, str(e)
        reason = (
            ""
            if ok
            else (
                f"bubblewrap is installed ({path}) but cannot create a sandbox here ({err}), so "
                "commands run WITHOUT an OS sandbox and each one needs approval. bwrap needs user "
                "namespaces (Ubuntu 24.04: `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
                " or an AppArmor profile for bwrap; Docker: run the container with "
                "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined` or as "
                "privileged); a missing or too old bwrap: " + INSTALL_HINT
            )
        )
        _probe_cache[key] = (ok, reason)
        return ok, reason


def make_runner(settings: SandboxSettings | None = None, workspace: Path | None = None):
    """The runner the settings ask for: bubblewrap when usable, else plain.

    A plain runner made because bubblewrap is unusable has ``fallback_reason`` set (and the
    reason is warned once per process); with ``enabled = false`` the reason says so, no warning.
    """
    settings = settings or SandboxSettings()
    if not settings.enabled:
        runner = PlainRunner(settings, workspace)
        runner.fallback_reason = (
            "the sandbox is disabled ([sandbox] enabled = false): commands run directly on "
            "this machine and each one needs approval"
        )
        return runner
    ok, reason = bwrap_status(settings.bwrap_path)
    if ok:
        return BwrapRunner(settings, workspace)
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(reason, RuntimeWarning, stacklevel=2)
    runner = PlainRunner(settings, workspace)
    runner.fallback_reason = reason
    return runner


__all__ = [
    "BwrapRunner",
    "CappedBuffer",
    "CommandResult",
    "CommandRunner",
    "OutputLog",
    "PlainRunner",
    "SandboxSettings",
    "SandboxSettingsError",
    "Supervisor",
    "bwrap_status",
    "make_runner",
    "run_capped",
]
