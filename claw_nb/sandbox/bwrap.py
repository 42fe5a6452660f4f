"""The bubblewrap runner: a session sandbox for a runner's commands, or one per command.

``bwrap_status`` (whether bubblewrap can run here) lives in ``bwrap_probe``, the mount options
in ``mounts``, the session sandbox in ``session``."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from claw_nb.claw_dir import CLAW_DIR, ensure_claw_dir
from claw_nb.lazy_logger import get_logger
from claw_nb.protected_paths import CLAUDE_DIR
from claw_nb.protocols import CommandResult
from claw_nb.sandbox import gitguard
from claw_nb.sandbox.bwrap_alone import BwrapSupervisor, join_cgroup
from claw_nb.sandbox.bwrap_probe import NS_FLAGS, cap_flags
from claw_nb.sandbox.cgroups import make_cgroup
from claw_nb.sandbox.environment import command_env
from claw_nb.sandbox.exposure import DatabaseMasks, expand_entry
from claw_nb.sandbox.limits import rlimits, ulimit_command
from claw_nb.sandbox.mounts import MountPlan, mount_args, private_dirs
from claw_nb.sandbox.process import (
    RunnerBase,
    run_capped,
)
from claw_nb.sandbox.server_channel import SessionError, current_umask
from claw_nb.sandbox.session import SandboxSession
from claw_nb.sandbox.settings import SandboxSettings

logger = get_logger("claw_nb.sandbox")
StopCheck = Callable[[], bool]  # true once the command must stop (a StopToken is one)


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
        self._databases = DatabaseMasks()  # the log databases to hide, kept per index state
        weakref.finalize(self, _close_box, self._box)

    def mount_args(self, workspace: Path, git: gitguard.GitGuard | None = None) -> list[str]:
        """bubblewrap's mount options (:func:`claw_nb.sandbox.mounts.mount_args`); ``git``:
        the git metadata to bind read-only (default: as it is now)."""
        git = git if git is not None else self._git_guard(workspace)
        return mount_args(self.settings, workspace, git, self._databases)

    def _namespace_args(self) -> list[str]:
        return [*NS_FLAGS, *cap_flags(), *([] if self.settings.network else ["--unshare-net"])]

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
        self._prepare(workspace)
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

    def _prepare(self, workspace: Path) -> None:
        """Folders made before the mount plan, so that they are mounted read-only."""
        s = self.settings
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

    def prestart(self) -> None:
        """Launch the session sandbox now, for a session that will run commands, and return
        (~2-4 ms here: the mount plan and the launch): bubblewrap and its command server set
        up in parallel while the agent is made and the model first asked, and the first
        command waits only for what is left of a start (~40-100 ms in all). That command
        works out the mount plan again, as every command does, and a sandbox launched from
        another plan is closed and started again. Like a first command, this makes the
        workspace's `.claw/` and `.claude/` if missing (mounted read-only). Nothing without a
        workspace, with ``session`` off, or once a sandbox runs. bubblewrap's
        ``--die-with-parent`` follows the calling thread (`claw-nb run`'s main thread): if
        it ends first, so does the sandbox, and the next command starts another."""
        if not self.settings.session or self.workspace is None or self._box[0] is not None:
            return
        if self._session_off is not None or not self._session_lock.acquire(False):
            return
        try:
            if self._box[0] is None:
                self._box[0] = self._start_from_plan(self.workspace)
        finally:
            self._session_lock.release()

    @property
    def launched(self) -> bool:
        """Whether a session sandbox was launched (by :meth:`prestart` or a command)."""
        return self._box[0] is not None

    def started(self) -> bool:
        """Whether the sandbox :meth:`prestart` launched is up (waits for the end of its
        start): bubblewrap then works here, with every namespace and mount a command gets."""
        session = self._box[0]
        if session is None:
            return False
        try:
            session.await_ready()
        except SessionError:
            return False
        return not session.ended

    def _start_from_plan(self, workspace: Path) -> SandboxSession | None:
        self._prepare(workspace)
        git = self._git_guard(workspace)
        try:
            mounts = self.mount_args(workspace, git)
            held = [state.workspace for state in git.states if state.placeholder]
            plan = MountPlan.of(mounts, [str(root / ".git") for root in held])
            return self._start_session(mounts, plan, held, wait=False)
        except (SessionError, OSError) as exc:  # the first command tries again, and says so
            logger.debug("claw_nb: the session sandbox did not start early: %s", exc)
            return None
        finally:
            gitguard.release_states(git)  # no command ran: nothing to undo or quarantine

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
            argv = join_cgroup(cgroup, argv)
        env = command_env(s, _SANDBOX_ENV)
        sup = BwrapSupervisor(cgroup, s.processes)
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

    def _start_session(
        self, mounts: list[str], plan: MountPlan, held: list[Path], *, wait: bool = True
    ) -> SandboxSession:
        s = self.settings
        argv = [self.bwrap, *mounts, "--chdir", "/", *self._namespace_args(), "--as-pid-1"]
        cgroup = make_cgroup(s, slack=3)  # outer bwrap, the server, the shell
        if cgroup is not None:
            argv = join_cgroup(cgroup, argv)
        for root in held:
            gitguard.hold_placeholder(root)

        released: list[bool] = []

        def release() -> None:  # once: the session's close and a failed start may both call it
            if not released:
                released.append(True)
                for root in held:
                    gitguard.release_placeholder(root)

        try:
            start = SandboxSession.start if wait else SandboxSession.launch
            return start(
                argv,
                private_dirs(mounts),
                rlimits(s, self.user_namespace),
                plan,
                env=command_env(s, _SANDBOX_ENV),
                nice=s.nice,  # set by the server itself: no `nice` process in front of bwrap
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


def _close_box(box: list[SandboxSession | None]) -> None:
    """A runner nobody closed: its session sandbox ends with it (or at exit)."""
    session, box[0] = box[0], None
    if session is not None:
        session.close()
