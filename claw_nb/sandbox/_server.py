"""The command server of a session sandbox: PID 1 inside bubblewrap, one command at a time.

Run as ``python -I -S -c SOURCE FD DIR...`` (the host reads this file and passes its text, so
nothing inside the sandbox can change the code that starts). FD is a Unix stream socket to the
host; each DIR is a private tmpfs (``/tmp``...) emptied after every command.

Protocol, both ways: a 4-byte big-endian length, then that many bytes of an object. The
server's replies are JSON, which the host checks; the host's requests are ``marshal`` data
(the same interpreter reads them, and ``json`` would cost the server ~10 ms to import).

* server -> host, once: ``{"ready": true}``.
* host -> server: ``{"argv": [...], "env": {...}, "cwd": "...", "umask": N, "rlimits":
  [["RLIMIT_X", soft, hard], ...]}``; the message's first byte carries two file descriptors
  (SCM_RIGHTS): the command's stdout and stderr. The host reads the other ends itself.
* server -> host: ``{"pid": N}`` once the command is started (its PID in the sandbox), then
  ``{"exit": N}`` or ``{"signal": N}`` once it and every process it left are gone, with
  ``"reuse": false`` when this server must not run another command (a command changed one of
  its own limits).

Each command runs as a forked child in its own session (its own process group), with the
given environment, working directory, umask and rlimits, signals at their defaults and stdin
``/dev/null``. When it exits, every other process of the sandbox is killed (as PID 1 the
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
import warnings  # noqa: F401 -- os.execvpe imports it: once here, not in every command's child

MAX_REQUEST = 1 << 24
SIGNALS = range(1, 65)
RLIMITS = tuple(n for n in dir(resource) if n.startswith("RLIMIT_"))
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


def start_child(request: dict, out: int, err: int) -> None:
    """In the forked child: the command's own session, fds, umask, cwd, rlimits, then exec."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in SIGNALS:
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.umask(int(request["umask"]))
        cwd = str(request["cwd"])
        try:
            os.chdir(cwd)
        except OSError as e:
            os.write(2, f"claw: cannot change to {cwd}: {e.strerror}\n".encode())
            os._exit(1)
        for name, soft, hard in request["rlimits"]:
            if name in RLIMITS:
                resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
        argv = [str(a) for a in request["argv"]]
        env = {str(k): str(v) for k, v in request["env"].items()}
    except BaseException as e:  # noqa: BLE001 -- the child must end here, whatever happened
        os.write(2, f"claw: cannot start the command: {e}\n".encode())
        os._exit(126)
    try:
        os.execvpe(argv[0], argv, env)
    except BaseException as e:  # noqa: BLE001
        os.write(2, f"claw: cannot run {argv[0]}: {e}\n".encode())
    os._exit(127)


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
    import ctypes  # only when there is something to remove

    libc = ctypes.CDLL(None, use_errno=True)
    for kind, ids in found.items():
        for ident in ids:
            if kind == "shm":
                libc.shmctl(ident, 0, None)  # IPC_RMID
            elif kind == "sem":
                libc.semctl(ident, 0, 0)
            else:
                libc.msgctl(ident, 0, None)


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
        try:
            pid = os.fork()
        except OSError as e:
            os.write(err, f"claw: cannot start the command: {e.strerror}\n".encode())
            os.close(out)
            os.close(err)
            send(sock, {"exit": 126})
            continue
        if pid == 0:
            start_child(request, out, err)
        os.close(out)
        os.close(err)
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
    fd, private = int(args[0]), args[1:]
    os.set_inheritable(fd, False)
    for sig in SIGNALS:  # PID 1 gets no signal it has no handler for from inside the sandbox
        if sig not in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
    import ctypes

    # not dumpable: no process of the sandbox may ptrace this one, or take its socket
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
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
