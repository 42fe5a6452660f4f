"""The command server of a session sandbox: PID 1 inside bubblewrap, one command at a time.

Run as ``python -I -S -c SOURCE FD NICE LIMITS DIR...`` (the host reads this file and passes
its text, so nothing inside the sandbox can change the code that starts). FD is a Unix stream
socket to the host; NICE what to add to the server's niceness and LIMITS the session's
rlimits (``RLIMIT_X:soft:hard,...``), both set on the server before it is ready and inherited
by every command; each DIR is a private tmpfs (``/tmp``...) emptied after every command.

Protocol, both ways: a 4-byte big-endian length, then that many bytes of an object. The
server's replies are JSON, which the host checks; the host's requests are ``marshal`` data
(the same interpreter reads them, and ``json`` would cost the server ~10 ms to import).

* server -> host, once: ``{"ready": true}``.
* host -> server: ``{"argv": [...], "env": {...}, "cwd": "...", "umask": N}``; the message's
  first byte carries two file descriptors (SCM_RIGHTS): the command's stdout and stderr. The
  host reads the other ends itself.
* server -> host: ``{"pid": N}`` once the command is started (its PID in the sandbox), then
  ``{"exit": N}`` or ``{"signal": N}`` once it and every process it left are gone, with
  ``"reuse": false`` when this server must not run another command (a command changed one of
  its limits); only ``{"exit": N, "reuse": ...}`` for a command that could not start (why is
  on its stderr).

Each command is spawned (posix_spawn) in its own session (its own process group), with the
given environment, working directory and umask, the session's rlimits, signals at their
defaults and stdin ``/dev/null``. When it exits, every other process of the sandbox is killed (as PID 1 the
server receives every orphan, and ``kill(-1)`` reaches the whole PID namespace but itself),
the private directories are emptied and System V IPC objects removed, so the next command
starts as a fresh sandbox would. At end of file on the socket (the host closed the session or
died), the server kills everything and exits, which ends the sandbox.

Standard library only and imported by nothing: it starts once per session sandbox.
"""

import _signal as signal  # not `signal`: it imports enum
import _socket
import marshal
import os
import resource
import select
import sys
import time

MAX_REQUEST = 1 << 24
SIGNALS = range(1, 65)
RLIMITS = tuple(n for n in dir(resource) if n.startswith("RLIMIT_"))
DEFAULT_SIGNALS = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]
_ANCILLARY = _socket.CMSG_SPACE(2 * 4)


class Ended(Exception):
    """The host closed its end, or sent something that is not a request."""


def send(sock, message: dict) -> None:
    """A reply: a flat object of booleans and integers, written as JSON by hand."""
    fields = ", ".join(
        f'"{key}": {str(value).lower() if isinstance(value, bool) else int(value)}'
        for key, value in message.items()
    )
    data = ("{" + fields + "}").encode()
    sock.sendall(len(data).to_bytes(4, "big") + data)


def receive(sock) -> tuple:
    """(request, [fd, ...]) of the next message; Ended at end of file or on a bad message."""
    head, fds = b"", []
    while len(head) < 4:
        data, ancillary, _flags, _ = sock.recvmsg(
            4 - len(head), _ANCILLARY, _socket.MSG_CMSG_CLOEXEC
        )
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [
                    int.from_bytes(payload[i : i + 4], sys.byteorder)
                    for i in range(0, len(payload) - 3, 4)
                ]
        if not data:
            raise Ended
        head += data
    size = int.from_bytes(head, "big")
    if size > MAX_REQUEST:
        raise Ended
    body = bytearray()
    while len(body) < size:
        data = sock.recv(min(1 << 16, size - len(body)))
        if not data:
            raise Ended
        body += data
    try:
        request = marshal.loads(bytes(body))
    except (ValueError, EOFError, TypeError):
        raise Ended from None
    if not isinstance(request, dict) or len(fds) != 2:
        raise Ended
    return request, fds


def find(name: str, env: dict) -> str:
    """``name`` looked up in the command's own PATH, as ``execvpe`` would (posix_spawnp would
    search this server's). FileNotFoundError when it is not there: spawning the bare name
    would run a file of that name in the working directory, which the agent may have made."""
    if "/" in name:
        return name
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    raise FileNotFoundError(2, "No such file or directory", name)


def spawn(request: dict, out: int, err: int):
    """Start the command: its own session, stdin ``/dev/null``, stdout and stderr the host's
    pipes, every signal at its default and none blocked, the request's environment, working
    directory and umask; this server's rlimits (see :func:`set_limits`). (pid, None), or
    (None, exit status) once the reason it could not start went to ``err``.

    posix_spawn, not fork: a forked Python child setting itself up took ~2.5 ms more a
    command than glibc's vfork-style spawn. The server is single-threaded, so the working
    directory and umask are its own for the moment of the spawn."""
    try:
        argv = [str(a) for a in request["argv"]]
        env = {str(k): str(v) for k, v in request["env"].items()}
        cwd = str(request["cwd"])
        umask = int(request["umask"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        os.write(err, f"claw: cannot start the command: {e}\n".encode())
        return None, 126
    try:
        os.chdir(cwd)
    except OSError as e:
        os.write(err, f"claw: cannot change to {cwd}: {e.strerror}\n".encode())
        return None, 1
    old = os.umask(umask)
    try:
        pid = os.posix_spawn(
            find(argv[0], env),
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ],
            setsid=True,
            setsigmask=(),
            setsigdef=DEFAULT_SIGNALS,
        )
    except (OSError, ValueError, IndexError) as e:
        reason = getattr(e, "strerror", None) or e
        os.write(err, f"claw: cannot run {argv[0] if argv else ''}: {reason}\n".encode())
        return None, 126 if isinstance(e, PermissionError) else 127
    finally:
        os.umask(old)
        os.chdir("/")
    return pid, None


def set_limits(spec: str) -> None:
    """The session's rlimits (``NAME:soft:hard,...``) on this server, once, before it is
    ready: every command it spawns inherits them, and a command that changes them (prlimit)
    ends the session (:func:`own_state`)."""
    for item in filter(None, spec.split(",")):
        name, soft, hard = item.split(":")
        if name not in RLIMITS:
            raise ValueError(f"unknown rlimit {name}")
        resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))


def wait_for(pid: int, sock, wake: int):
    """The wait status of ``pid``, reaping orphans meanwhile; Ended if the host goes away."""
    while True:
        while True:
            try:
                done, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if done == 0:
                break
            if done == pid:
                return status
        ready, _, _ = select.select([sock, wake], [], [])
        if wake in ready:
            try:
                while os.read(wake, 512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        if sock in ready:
            raise Ended  # the host never writes while a command runs: it closed or misbehaves


def kill_all(limit_s: float = 10.0) -> bool:
    """SIGKILL every other process of the sandbox and reap them; False if some would not go."""
    end = time.monotonic() + limit_s
    while True:
        try:
            os.kill(-1, signal.SIGKILL)  # the whole PID namespace, but not the caller
        except ProcessLookupError:
            pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return True
        if time.monotonic() > end:
            return False
        select.select([], [], [], 0.001)


def empty(root: str) -> None:
    """Remove what is in ``root`` without crossing into a mount point (a bound host path)."""
    try:
        dev = os.lstat(root).st_dev
    except OSError:
        return
    todo, dirs = [root], []
    while todo:
        here = todo.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_dev != dev:
                continue
            if entry.is_dir(follow_symlinks=False):
                try:
                    os.chmod(entry.path, 0o700)
                except OSError:
                    pass
                todo.append(entry.path)
                dirs.append(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    for path in reversed(dirs):
        try:
            os.rmdir(path)
        except OSError:
            pass


def remove_ipc() -> None:
    """System V IPC objects a command left in the sandbox's IPC namespace."""
    found = {}
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        ids = [int(line.split()[1]) for line in lines if len(line.split()) > 1]
        if ids:
            found[kind] = ids
    if not found:
        return
    for kind, ids in found.items():
        for ident in ids:
            if kind == "shm":
                libc_call("shmctl", ident, 0, None)  # IPC_RMID
            elif kind == "sem":
                libc_call("semctl", ident, 0, 0)
            else:
                libc_call("msgctl", ident, 0, None)


def libc_call(name: str, *args: int | None) -> int:
    """A C library function of int arguments and result, through ``_ctypes`` itself: the
    ``ctypes`` package costs the server ~5 ms to import, at every sandbox start."""
    import _ctypes

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL
        _restype_ = Int

    class Libc:
        _handle = _ctypes.dlopen(None, 2)  # RTLD_NOW: this process's own symbols

    return Function((name, Libc()))(*args)


def own_state() -> tuple:
    """What a command could change about this process from outside (same uid): its children
    would inherit it."""
    try:
        with open("/proc/self/oom_score_adj") as f:
            oom = f.read().strip()
    except OSError:
        oom = ""
    limits = tuple(resource.getrlimit(getattr(resource, n)) for n in RLIMITS)
    return limits, os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0)), oom


def serve(sock, wake: int, private: list) -> None:
    state = own_state()
    send(sock, {"ready": True})
    while True:
        request, (out, err) = receive(sock)
        pid, failed = spawn(request, out, err)
        os.close(out)
        os.close(err)
        if pid is None:  # nothing ran: the sandbox serves the next command as it is
            send(sock, {"exit": failed, "reuse": own_state() == state})
            continue
        send(sock, {"pid": pid})
        status = wait_for(pid, sock, wake)
        clean = kill_all()
        reuse = clean and own_state() == state
        if status is not None and os.WIFSIGNALED(status):
            send(sock, {"signal": os.WTERMSIG(status), "reuse": reuse})
        else:
            code = os.WEXITSTATUS(status) if status is not None else 255
            send(sock, {"exit": code, "reuse": reuse})
        if not reuse:
            return
        for root in private:
            empty(root)
        remove_ipc()


def main(args: list) -> int:
    fd, nice, limits, private = int(args[0]), int(args[1]), args[2], args[3:]
    os.set_inheritable(fd, False)
    set_limits(limits)  # a failure is said on stderr, which still goes to the host
    if nice:
        os.nice(nice)  # every command inherits it (no `nice` process started for it)
    for sig in SIGNALS:  # PID 1 gets no signal it has no handler for from inside the sandbox
        if sig not in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
    # not dumpable: no process of the sandbox may ptrace this one, or take its socket
    if libc_call("prctl", 4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError("prctl(PR_SET_DUMPABLE) failed")
    wake_r, wake_w = os.pipe()
    for end in (wake_r, wake_w):
        os.set_blocking(end, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    sock = _socket.socket(fileno=fd)
    null = os.open("/dev/null", os.O_WRONLY)
    try:
        os.dup2(null, 2)  # bubblewrap's errors went to the host; nothing else may
        serve(sock, wake_r, private)
    except (Ended, OSError):
        pass
    kill_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
