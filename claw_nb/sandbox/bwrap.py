"""The bubblewrap runner, and whether bubblewrap can run here at all."""

from __future__ import annotations

import glob
import logging
import os
import shlex
import shutil
import signal
import stat
import subprocess
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from claw_nb.claw_dir import CLAW_DIR, ensure_claw_dir
from claw_nb.protected_paths import CLAUDE_DIR
from claw_nb.protocols import CommandResult
from claw_nb.sandbox import gitguard
from claw_nb.sandbox.cgroups import Cgroup, make_cgroup
from claw_nb.sandbox.exposure import (
    RUN_KEEP,
    command_env,
    expand_entry,
    interpreter_dirs,
    is_within,
    secret_path_strings,
)
from claw_nb.sandbox.limits import rlimits, ulimit_command
from claw_nb.sandbox.process import (
    RunnerBase,
    Supervisor,
    children,
    count_pids,
    kill_pid,
    run_capped,
    signal_group,
)
from claw_nb.sandbox.session import MountPlan, SandboxSession, SessionError, current_umask
from claw_nb.sandbox.settings import SandboxSettings

logger = logging.getLogger("claw_nb.sandbox")
StopCheck = Callable[[], bool]  # true once the command must stop (a StopToken is one)

INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
    "`sudo dnf install bubblewrap` (Fedora)"
)


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


_BIND_OPTIONS = frozenset({"--bind", "--ro-bind", "--dev-bind"})


def _bind_targets(args: list[str]) -> list[Path]:
    """Where the options ``args`` mount a host path (the root bind aside)."""
    out, i = [], 0
    while i < len(args):
        if args[i] in _BIND_OPTIONS:
            if args[i + 2] != "/":
                out.append(Path(args[i + 2]))
            i += 3
        else:
            i += 1  # every other token is an option or an absolute path, never a bind option
    return out


def _needed_masks(masks: list[str], private: list[Path], bound: list[Path]) -> list[Path]:
    """The masks that hide something: a path in a private tmpfs (``/tmp``, ...) is already
    gone unless a bind brings it back. Each mask is a mount bubblewrap makes; a user who has
    logged into ~80 databases under /tmp paid ~0.2 s a command for them. On strings: a
    session sandbox works this out before every command."""
    private_dirs = tuple(str(d).rstrip("/") + "/" for d in private if os.path.realpath(d) == str(d))
    bound_dirs = [str(b) for b in bound]

    def within(path: str, parents: list[str]) -> bool:  # is_within, on strings: ~50x cheaper
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in parents)

    return [
        Path(m) for m in masks if not (m + "/").startswith(private_dirs) or within(m, bound_dirs)
    ]


class BwrapRunner(RunnerBase):
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
        self._nice = shutil.which("nice")
        # unprivileged, bwrap makes a user namespace (a setuid bwrap does not)
        self.user_namespace = os.geteuid() != 0 and not setuid
        self._box: list[SandboxSession | None] = [None]  # the session sandbox, once started
        self._session_lock = threading.Lock()  # one command at a time in it
        self._session_off: str | None = None  # why this runner gave sessions up
        weakref.finalize(self, _close_box, self._box)

    def _masks(self, workspace: Path) -> list[str]:
        entries = secret_path_strings(workspace)
        for entry in self.settings.hide:
            entries += [str(p) for p in expand_entry(entry, workspace)]
        return [p for p in dict.fromkeys(entries) if p != "/"]

    @staticmethod
    def _mask_args(path: Path) -> list[str]:
        if path.is_dir():
            return ["--tmpfs", str(path)]
        return ["--ro-bind", "/dev/null", str(path)]

    def mount_args(self, workspace: Path, git: gitguard.GitGuard | None = None) -> list[str]:
        """bubblewrap's mount options (what the sandbox shows of the machine); ``git``: the git
        metadata of the workspace and the extra writable paths to bind read-only (default: as
        it is now)."""
        s = self.settings
        git = git if git is not None else self._git_guard(workspace)
        a = ["--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc"]
        private = [Path("/tmp")]
        a += ["--tmpfs", "/tmp"]
        for d in ("/var/tmp", "/run"):
            if os.path.isdir(d) and not os.path.islink(d):
                a += ["--tmpfs", d]
                private.append(Path(d))
        # the interpreter (and its venv) under a private dir stays visible, read-only: otherwise
        # `python` inside is missing or another one
        for p in interpreter_dirs():
            if any(is_within(p, d) and p != d for d in private):
                a += ["--ro-bind", str(p), str(p)]
        for keep in RUN_KEEP:
            if os.path.isdir(keep):
                a += ["--ro-bind", keep, keep]
        for dev in s.devices:
            for p in glob.glob(dev):
                a += ["--dev-bind", p, p]
        binds = ["--bind", str(workspace), str(workspace)]
        for entry in s.writable:
            for p in expand_entry(entry, workspace):
                binds += ["--bind", str(p), str(p)]
        binds += git.bwrap_args()
        for entry in s.read_only:
            for p in expand_entry(entry, workspace):
                if is_within(p, workspace) and p != workspace:
                    binds += ["--ro-bind", str(p), str(p)]
        masks = _needed_masks(self._masks(workspace), private, _bind_targets([*a, *binds]))
        # a mask that contains the workspace goes first, so the workspace is bound back over it
        a += [x for m in masks if is_within(workspace, m) for x in self._mask_args(m)]
        a += binds
        # after the read-only binds: a log database inside `.claw/` stays hidden under them
        a += [x for m in masks if not is_within(workspace, m) for x in self._mask_args(m)]
        # last, once every device is bound: nothing a command writes under /dev outlives it
        a += ["--remount-ro", "/dev"]
        return a

    @staticmethod
    def private_dirs(mount_args: list[str]) -> list[str]:
        """The sandbox's own tmpfs folders that commands may fill (emptied after each one in
        a session sandbox)."""
        out = [mount_args[i + 1] for i, a in enumerate(mount_args) if a == "--tmpfs"]
        return [d for d in out if d in ("/tmp", "/var/tmp", "/run", "/dev/shm")]

    def _namespace_args(self) -> list[str]:
        return [*_NS_FLAGS, *_cap_flags(), *([] if self.settings.network else ["--unshare-net"])]

    def bwrap_args(
        self, cwd: Path, workspace: Path, git: gitguard.GitGuard | None = None
    ) -> list[str]:
        """The bubblewrap command line before the command (see :meth:`mount_args`)."""
        mounts = self.mount_args(workspace, git)
        return [self.bwrap, *mounts, "--chdir", str(cwd), *self._namespace_args()]

    def _git_guard(self, workspace: Path) -> gitguard.GitGuard:
        extra = [p for entry in self.settings.writable for p in expand_entry(entry, workspace)]
        return gitguard.guard(workspace, extra)

    def argv(
        self, command: str, cwd: Path, workspace: Path, git: gitguard.GitGuard | None = None
    ) -> list[str]:
        # rlimits are set inside the sandbox (in a fresh user namespace RLIMIT_NPROC then counts
        # only the sandbox's tasks), then the user's command gets a clean `bash -c`.
        prelude = (
            f"{{ {ulimit_command(rlimits(self.settings, self.user_namespace))}; }} || exit 126; "
            'exec -a "$0" "$BASH" -c "$1"'
        )
        shell = self.settings.shell
        args = self.bwrap_args(cwd, workspace, git)
        return [*args, "--", shell, "-c", prelude, shell, command]

    def run(
        self, command: str, cwd: Path, timeout: float, stop: StopCheck | None = None
    ) -> CommandResult:
        """Run ``command`` in the session sandbox (started on the first command, restarted
        when the mount plan changes), or in a sandbox of its own when the session is busy in
        another thread, turned off (``[sandbox] session = false``) or cannot start."""
        s = self.settings
        cwd = Path(cwd).resolve()
        workspace = self.workspace or cwd
        if CLAW_DIR in s.read_only:
            # made here if missing, so it is mounted read-only: otherwise the command could
            # create .claw/settings.toml and loosen the sandbox for the next session
            try:
                ensure_claw_dir(workspace)
            except OSError:
                pass
        if CLAUDE_DIR in s.read_only:
            # likewise: a .claude/settings.json the command created would run its hooks on
            # the host in the next session (claw_nb.hooks); an empty folder git does not show
            try:
                os.mkdir(workspace / CLAUDE_DIR)
            except OSError:
                pass
        git = self._git_guard(workspace)
        try:
            res = None
            if s.session and self._session_off is None and self._session_lock.acquire(False):
                try:
                    res = self._run_in_session(command, cwd, workspace, git, timeout, stop)
                finally:
                    self._session_lock.release()
            if res is None:
                res = self._run_alone(command, cwd, workspace, git, timeout, stop)
        finally:
            notes = git.after()
        if notes:
            res = replace(res, stderr="\n".join([res.stderr.rstrip("\n"), *notes]).lstrip("\n"))
        return self._result(res)

    def _run_alone(
        self,
        command: str,
        cwd: Path,
        workspace: Path,
        git: gitguard.GitGuard,
        timeout: float,
        stop: StopCheck | None,
    ) -> CommandResult:
        """One bubblewrap for this command: its init's death ends everything it started."""
        s = self.settings
        argv = self._launch(self.argv(command, cwd, workspace, git))
        cgroup = make_cgroup(s, slack=3)  # outer bwrap, its init, the shell
        if cgroup is not None:
            argv = _join_cgroup(cgroup, argv)
        env = command_env(s, _SANDBOX_ENV)
        sup = _BwrapSupervisor(cgroup, s.processes)
        try:
            return run_capped(
                argv,
                cwd,
                timeout,
                env=env,
                supervisor=sup,
                output_log=self._output_log(),
                stop=stop,
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise

    def _launch(self, argv: list[str]) -> list[str]:
        nice = self._nice if self.settings.nice else None
        return [nice, "-n", str(self.settings.nice), *argv] if nice else argv

    def _run_in_session(
        self,
        command: str,
        cwd: Path,
        workspace: Path,
        git: gitguard.GitGuard,
        timeout: float,
        stop: StopCheck | None,
    ) -> CommandResult | None:
        """The command in the session sandbox; None if it did not start there (the caller
        runs it alone: it never ran twice)."""
        s = self.settings
        mounts = self.mount_args(workspace, git)
        held = [state.workspace for state in git.states if state.placeholder]
        plan = MountPlan.of(mounts, [str(root / ".git") for root in held])
        session = self._box[0]
        if session is not None and not session.usable_for(plan):
            self._box[0] = None
            session.close()
            session = None
        if session is None:
            try:
                session = self._start_session(mounts, plan, held)
            except SessionError as exc:
                self._session_off = str(exc)
                logger.warning("claw_nb: %s; each command gets a sandbox of its own", exc)
                return None
            self._box[0] = session
        request = {
            "argv": [s.shell, "-c", command],
            "env": command_env(s, _SANDBOX_ENV),
            "cwd": str(cwd),
            "umask": current_umask(),
            "rlimits": [list(limit) for limit in rlimits(s, self.user_namespace)],
        }
        try:
            return session.run(
                request, timeout, processes=s.processes, output_log=self._output_log(), stop=stop
            )
        except SessionError:
            return None  # the request never reached the server
        finally:
            if self._box[0] is session and session.ended:
                self._box[0] = None
                session.close()

    def _start_session(self, mounts: list[str], plan: MountPlan, held: list[Path]):
        s = self.settings
        argv = [self.bwrap, *mounts, "--chdir", "/", *self._namespace_args(), "--as-pid-1"]
        argv = self._launch(argv)
        cgroup = make_cgroup(s, slack=3)  # outer bwrap, the server, the shell
        if cgroup is not None:
            argv = _join_cgroup(cgroup, argv)
        for root in held:
            gitguard.hold_placeholder(root)

        def release() -> None:
            for root in held:
                gitguard.release_placeholder(root)

        try:
            return SandboxSession.start(
                argv,
                self.private_dirs(mounts),
                plan,
                env=command_env(s, _SANDBOX_ENV),
                cgroup=cgroup,
                on_close=[release],
            )
        except BaseException:
            release()
            raise

    def close(self) -> None:
        """End the session sandbox (and everything in it); the next command starts another."""
        session, self._box[0] = self._box[0], None
        if session is not None:
            session.close()

    def describe(self, command: str = "...") -> str:
        """The full command line, for debugging."""
        ws = self.workspace or Path.cwd()
        return shlex.join(self.argv(command, ws, ws))


_SANDBOX_ENV = {"TMPDIR": "/tmp", "CLAW_SANDBOX": "bubblewrap"}


def _join_cgroup(cgroup: Cgroup, argv: list[str]) -> list[str]:
    join = 'echo $$ > "$0" 2>/dev/null; exec "$@"'
    return ["/bin/sh", "-c", join, str(cgroup.procs_file), *argv]


def _close_box(box: list[SandboxSession | None]) -> None:
    """A runner nobody closed: its session sandbox ends with it (or at exit)."""
    session, box[0] = box[0], None
    if session is not None:
        session.close()


_probe_cache: dict[tuple[str, int], tuple[bool, str]] = {}
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
