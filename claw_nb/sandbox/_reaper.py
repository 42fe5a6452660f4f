"""The plain runner's supervisor process, run by path as ``python -I -S _reaper.py ARGS...``.

It joins the command's cgroup (if any), becomes a child subreaper (orphans of the command are
re-parented to it, so setsid/double-fork daemons stay in reach), starts the command in its own
session with the rlimits, counts the command's processes when asked to and kills them all past
the limit, and when the command ends (or on SIGTERM after a grace period, or on SIGUSR1 at once)
kills every descendant left. It reports "pid N", then "exit N" / "signal N" / "limit processes"
and "done" on the status fd.

ARGS: status fd, parent pid, grace seconds, process limit (0: none), cgroup.procs path or "",
"RLIMIT_X:soft:hard,...", the command argv.

Standard library only, imported by nothing: it starts for every command, so it stays small
(``_signal``, not ``signal``, which imports enum and costs milliseconds).
"""

import _signal as signal  # not `signal`: it imports enum, which costs milliseconds
import ctypes
import os
import resource
import select
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


def report(sfd: int, line: str) -> None:
    try:
        os.write(sfd, (line + "\n").encode())
    except OSError:
        pass


def children(pid: int) -> list:
    out = []
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


def descendants(me: int, cap: int) -> list:
    seen, todo = [], children(me)
    while todo and len(seen) <= cap:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(children(pid))
    return seen


def signal_all(me: int, pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass
    for pid in descendants(me, 1 << 30):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Reaper:
    """Reaps children; remembers the command's own wait status."""

    def __init__(self, command_pid: int):
        self.command_pid = command_pid
        self.status = None

    def reap(self) -> bool:
        """One bounded pass (under a fork bomb orphans come to us without end, and the process
        count must still be checked between passes); False when no child is left."""
        for _ in range(256):
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.command_pid:
                self.status = st
        return True


def start_command(argv: list, limits: str) -> None:
    """In the forked child: own session, default signals, rlimits, exec. Never returns."""
    try:
        os.setsid()  # own session: own process group, and own autogroup (CPU share)
        signal.set_wakeup_fd(-1)
        for s in (
            signal.SIGCHLD,
            signal.SIGTERM,
            signal.SIGHUP,
            signal.SIGINT,
            signal.SIGUSR1,
            signal.SIGPIPE,
            signal.SIGXFSZ,
        ):
            signal.signal(s, signal.SIG_DFL)
        for item in filter(None, limits.split(",")):
            name, soft, hard = item.split(":")
            resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
        os.execvp(argv[0], argv)
    except BaseException as e:  # noqa: BLE001 -- the child must end here, whatever happened
        os.write(2, f"claw: cannot run {argv[0]}: {e}\n".encode())
    os._exit(127)


def main(args: list) -> int:
    sfd, parent, grace, limit = int(args[0]), int(args[1]), float(args[2]), int(args[3])
    cgroup_procs, limits, argv = args[4], args[5], args[6:]
    os.set_inheritable(sfd, False)
    if cgroup_procs:
        try:
            with open(cgroup_procs, "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            report(sfd, "nocgroup")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        return 1
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
        start_command(argv, limits)
    report(sfd, f"pid {pid}")
    reaper = Reaper(pid)
    term_at = None
    over = False
    last_count = 0.0
    while reaper.status is None:
        try:
            select.select([rfd], [], [], 0.05)
            while os.read(rfd, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        reaper.reap()
        now = time.monotonic()
        if now_please:
            break
        if stop and term_at is None:
            term_at = now
            signal_all(me, pid, signal.SIGTERM)
        if term_at is not None and now - term_at > grace:
            break
        if limit and now - last_count >= 0.02:
            last_count = now
            if len(descendants(me, limit)) > limit:
                over = True
                break
    # every descendant is ours (subreaper): kill until none is left, however many rounds it takes
    end = time.monotonic() + 60
    clean = False
    while time.monotonic() < end:
        signal_all(me, pid, signal.SIGKILL)
        if not reaper.reap():
            clean = True
            break
        time.sleep(0.001)
    if over:
        report(sfd, "limit processes")
    status = reaper.status
    if status is not None:
        if os.WIFSIGNALED(status):
            report(sfd, f"signal {os.WTERMSIG(status)}")
        else:
            report(sfd, f"exit {os.WEXITSTATUS(status)}")
    if clean:
        report(sfd, "done")  # no descendant is left
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
