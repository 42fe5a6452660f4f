"""The session sandbox: one bubblewrap for a runner's commands, as tight as one per command.

Each test runs real commands in real bubblewrap (the `area` fixture skips without it). What a
long-lived sandbox could get wrong: a protected path that appears (or is replaced) after it
started, state one command leaves for the next, processes that outlive their command, a
server a command tampers with, and the end of the session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from claw_nb.sandbox import BwrapRunner, SandboxSettings
from claw_nb.sandbox.mounts import MountPlan
from claw_nb.sandbox.process import STOPPED
from claw_nb.sandbox.server_channel import Channel, SessionError, current_umask
from claw_nb.sandbox.session import SandboxSession, _RemoteCommand
from claw_nb.stop import StopToken
from tests.sandbox.kit import marker, sandbox, survivors

# which sandbox a command runs in: its PID namespace (an inode number, which a new namespace
# may reuse once the old one is gone) and when that namespace's PID 1 started
NS = "echo $(readlink /proc/self/ns/pid)@$(cut -d' ' -f22 /proc/1/stat)"


def namespace(runner, area) -> str:
    res = runner.run(NS, area.ws, 30)
    assert res.exit_code == 0, res
    return res.stdout.strip()


def wait_for(path: Path, within: float = 20.0) -> None:
    end = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# one sandbox, reused


def test_commands_of_a_runner_share_one_sandbox_with_the_server_as_pid_1(area):
    runner = sandbox(area)
    first = runner.run(f"{NS}; cat /proc/1/cmdline", area.ws, 30)
    second = runner.run(f"{NS}; cat /proc/1/cmdline", area.ws, 30)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout  # same PID namespace, same PID 1
    assert first.stdout.split("@")[0] != os.readlink("/proc/self/ns/pid")
    assert "-I\0-S\0-c\0" in first.stdout  # PID 1 is the command server, not bwrap's init
    runner.close()


def test_each_command_starts_fresh(area):
    """Environment, working directory, umask, rlimits, private folders and IPC objects: what
    one command changes, the next does not see (a sandbox per command gave that for free)."""
    runner = sandbox(area)
    before = runner.run(
        "echo x > /tmp/a; mkdir -p /var/tmp/d/e; echo y > /dev/shm/b; chmod 000 /var/tmp/d; "
        "ipcmk -M 4096 >/dev/null; umask 077; export LEFT=1; cd /; ulimit -S -n 64; "
        f"touch /dev/planted; echo ns=$({NS})",
        area.ws,
        30,
    )
    after = runner.run(
        "echo files=$(ls -A /tmp /var/tmp /dev/shm | grep -v -e ':$' -e '^$' | wc -l); "
        "echo ipc=$(ipcs -m | grep -c '^0x'); echo umask=$(umask); echo left=$LEFT; "
        "echo pwd=$(pwd); echo nofile=$(ulimit -S -n); echo planted=$(ls /dev | grep -c planted); "
        f"echo ns=$({NS})",
        area.ws,
        30,
    )
    seen = dict(line.split("=", 1) for line in after.stdout.splitlines())
    assert seen["ns"] == before.stdout.split("=", 1)[1].strip()  # the same sandbox
    assert seen["files"] == "0" and seen["ipc"] == "0" and seen["planted"] == "0"
    assert seen["umask"] == f"{current_umask():04o}"
    assert seen["left"] == "" and seen["pwd"] == str(area.ws) and seen["nofile"] != "64"
    runner.close()


def test_umask_of_each_command_is_the_hosts_at_that_moment(area):
    runner = sandbox(area)
    old = os.umask(0o027)
    try:
        assert runner.run("umask", area.ws, 30).stdout.strip() == "0027"
    finally:
        os.umask(old)
    assert runner.run("umask", area.ws, 30).stdout.strip() == f"{old:04o}"
    runner.close()


def test_background_processes_do_not_outlive_their_command(area):
    m = marker()
    runner = sandbox(area)
    ns = namespace(runner, area)
    res = runner.run(
        f"setsid sleep {m} & (sleep {m} &) ; nohup sleep {m} >/dev/null &", area.ws, 30
    )
    assert res.exit_code == 0
    assert survivors(m) == []
    assert namespace(runner, area) == ns  # and the sandbox stays for the next command
    runner.close()


def test_exit_codes_and_signals_read_as_under_a_sandbox_per_command(area):
    runner = sandbox(area)
    assert runner.run("exit 3", area.ws, 30).exit_code == 3
    assert runner.run("kill -KILL $$", area.ws, 30).exit_code == 128 + signal.SIGKILL
    res = runner.run("echo out; echo err >&2", area.ws, 30)
    assert (res.stdout, res.stderr) == ("out\n", "err\n")
    runner.close()


def test_the_session_limits_bind_every_command_each_with_its_own_cpu_count(area):
    """rlimits are set on the server once and inherited (commands are spawned): each command
    sees them, a busy loop is stopped by the CPU limit, and the next command in the same
    sandbox starts its own CPU count."""
    runner = sandbox(area, cpu_seconds=2, memory_mb=512, file_size_mb=3)
    ns = namespace(runner, area)
    shown = runner.run("ulimit -t; ulimit -v; ulimit -f; ulimit -c; ulimit -H -t", area.ws, 10)
    assert shown.stdout.split() == ["2", str(512 * 1024), str(3 * 1024), "0", "7"]
    busy = runner.run("while :; do :; done", area.ws, 30)
    assert busy.killed_reason == "CPU time limit (2 s)" and not busy.timed_out
    again = runner.run("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done", area.ws, 30)
    assert again.stdout == "done\n" and again.killed_reason is None
    assert namespace(runner, area) == ns  # the same sandbox all along
    runner.close()


def test_commands_run_at_the_niceness_asked_for(area):
    """`[sandbox] nice` is added to the host's niceness once, by the server, for every command."""
    here = os.getpriority(os.PRIO_PROCESS, 0)
    for nice in (10, 0):
        runner = sandbox(area, nice=nice)
        shown = [runner.run("nice", area.ws, 10).stdout.strip() for _ in range(2)]
        assert shown == [str(min(19, here + nice))] * 2
        runner.close()


def test_a_shell_or_folder_that_is_not_there_is_said_and_the_sandbox_stays(area):
    runner = sandbox(area)
    ns = namespace(runner, area)
    planted = area.ws / "no-such-shell-xyz"  # a file of that name the agent left in the cwd
    planted.write_text("#!/bin/sh\necho PLANTED RAN\n")
    planted.chmod(0o755)
    missing = BwrapRunner(SandboxSettings(shell="no-such-shell-xyz"), area.ws)
    res = missing.run("true", area.ws, 10)
    assert res.exit_code == 127 and "claw: cannot run no-such-shell-xyz" in res.stderr
    assert "PLANTED" not in res.stdout
    missing.close()
    gone = area.ws / "gone"
    gone.mkdir()
    session = runner._box[0]
    request = {"argv": ["bash", "-c", "pwd"], "env": {"PATH": "/usr/bin:/bin"}}
    request.update(cwd=str(gone) + "-not-there", umask=0o022)
    res = session.run(request, 10, processes=0)
    assert res.exit_code == 1 and "claw: cannot change to" in res.stderr
    assert namespace(runner, area) == ns
    runner.close()


# --------------------------------------------------------------------------------------------
# the mount plan, before every command


def test_a_protected_file_a_command_creates_is_read_only_for_the_next(area):
    """`.mcp.json` (programs that run on the host) did not exist when the sandbox started, so
    nothing protected it: the next command must find it read-only, as a new sandbox would."""
    runner = sandbox(area)
    ns = namespace(runner, area)
    made = runner.run("echo '{\"mcpServers\": {}}' > .mcp.json", area.ws, 30)
    assert made.exit_code == 0
    res = runner.run('echo \'{"mcpServers": {"evil": {}}}\' > .mcp.json', area.ws, 30)
    assert res.exit_code != 0 and "Read-only" in res.stderr
    assert "evil" not in (area.ws / ".mcp.json").read_text()
    assert namespace(runner, area) != ns  # a new sandbox, from the new plan
    runner.close()


def test_a_protected_symlink_a_command_plants_protects_its_target(area):
    runner = sandbox(area)
    runner.run("echo '{}' > servers.json && ln -s servers.json .mcp.json", area.ws, 30)
    res = runner.run('echo \'{"mcpServers": {"evil": {}}}\' > servers.json', area.ws, 30)
    assert res.exit_code != 0
    assert (area.ws / "servers.json").read_text() == "{}\n"
    runner.close()


def test_a_hidden_path_a_command_creates_is_hidden_from_the_next(area):
    runner = sandbox(area, hide=["secret-*.txt"])
    runner.run("echo s3cret > secret-1.txt", area.ws, 30)
    res = runner.run("cat secret-1.txt", area.ws, 30)
    assert "s3cret" not in res.stdout
    runner.close()


def test_a_hidden_folder_replaced_on_the_host_stays_hidden(area):
    """Renaming a folder a sandbox masks detaches the mask from the path: the plan holds each
    path's identity, so the replaced folder gets a new sandbox and a new mask."""
    vault = area.outside / "vault"
    vault.mkdir()
    runner = sandbox(area, hide=[str(vault)])
    assert runner.run(f"ls -A {vault}", area.ws, 30).stdout == ""
    vault.rename(area.outside / "vault-old")
    vault.mkdir()
    (vault / "key").write_text("s3cret\n")
    res = runner.run(f"cat {vault}/key", area.ws, 30)
    assert "s3cret" not in res.stdout
    runner.close()


def test_a_hidden_folder_deleted_and_made_again_on_the_host_stays_hidden(area):
    """The new folder may get the old one's inode number: the sandbox's mount table, which
    lost the mask when the folder was deleted, tells."""
    vault = area.outside / "vault"
    vault.mkdir()
    runner = sandbox(area, hide=[str(vault)])
    assert runner.run(f"ls -A {vault}", area.ws, 30).stdout == ""
    vault.rmdir()
    vault.mkdir()
    (vault / "key").write_text("s3cret\n")
    assert "s3cret" not in runner.run(f"cat {vault}/key", area.ws, 30).stdout
    runner.close()


def test_git_metadata_created_mid_session_stays_out_of_reach(area):
    """A workspace without .git: the session's read-only placeholder holds across commands,
    and a repository the host makes meanwhile is bound read-only for the next command."""
    runner = sandbox(area)
    assert runner.run("git init -q . 2>&1; mkdir .git/hooks", area.ws, 30).exit_code != 0
    assert not any((area.ws / ".git").iterdir())
    subprocess.run(["git", "init", "-q", str(area.ws)], check=True, env={"HOME": str(area.root)})
    res = runner.run("echo 'exit 0' > .git/hooks/pre-commit", area.ws, 30)
    assert res.exit_code != 0 and not (area.ws / ".git" / "hooks" / "pre-commit").exists()
    runner.close()


@pytest.fixture
def own_index(area, monkeypatch):
    """A journal folder (and log database index) of this test's own, outside /tmp."""
    from claw_nb.log import journal_paths

    monkeypatch.setenv("XDG_CACHE_HOME", str(area.root / "cache"))
    journal_paths._roots.clear()
    yield
    journal_paths._roots.clear()


def test_a_log_database_opened_mid_session_is_hidden_from_the_next_command(area, own_index):
    from claw_nb.log.database_index import register_database

    runner = sandbox(area)
    db = area.outside / "later.duckdb"
    db.write_text("the log\n")
    assert "the log" in runner.run(f"cat {db}", area.ws, 30).stdout  # not a log yet
    register_database(db)
    (area.outside / "later.duckdb.wal").write_text("the newest rows\n")
    res = runner.run(f"cat {db} {db}.wal", area.ws, 30)
    assert "the log" not in res.stdout and "newest" not in res.stdout
    runner.close()


def test_a_write_ahead_file_that_appears_mid_session_is_hidden(area, own_index):
    from claw_nb.log.database_index import register_database

    db = area.outside / "log.duckdb"
    db.write_text("the log\n")
    register_database(db)
    runner = sandbox(area)
    assert "the log" not in runner.run(f"cat {db}", area.ws, 30).stdout
    Path(f"{db}.wal").write_text("the newest rows\n")  # DuckDB makes it as it writes
    assert "newest" not in runner.run(f"cat {db}.wal", area.ws, 30).stdout
    runner.close()


def test_a_log_database_replaced_on_the_host_stays_hidden(area, own_index):
    """Deleting a file a sandbox masks detaches the mask: the identity check catches it."""
    from claw_nb.log.database_index import register_database

    db = area.outside / "log.duckdb"
    db.write_text("old rows\n")
    register_database(db)
    runner = sandbox(area)
    assert "old rows" not in runner.run(f"cat {db}", area.ws, 30).stdout
    db.unlink()
    db.write_text("new rows\n")
    assert "new rows" not in runner.run(f"cat {db}", area.ws, 30).stdout
    runner.close()


# --------------------------------------------------------------------------------------------
# ending a command: timeout, stop, limits


def test_a_timeout_kills_the_command_group_and_the_sandbox_survives(area):
    m = marker()
    runner = sandbox(area)
    ns = namespace(runner, area)
    res = runner.run(f"sleep {m} & sleep {m}", area.ws, 1)
    assert res.timed_out and res.killed_reason == "timeout"
    assert survivors(m) == []
    assert namespace(runner, area) == ns  # SIGTERM ended it: the sandbox is still good
    runner.close()


def test_a_command_deaf_to_sigterm_is_killed_with_its_sandbox(area):
    m = marker()
    runner = sandbox(area)
    ns = namespace(runner, area)
    start = time.monotonic()
    res = runner.run(f"trap '' TERM; sleep {m}", area.ws, 1)
    assert res.timed_out and time.monotonic() - start < 5
    assert survivors(m) == []
    assert namespace(runner, area) != ns  # the next command got a fresh sandbox
    runner.close()


def test_a_stop_token_kills_the_running_command_at_once(area):
    m = marker()
    runner = sandbox(area)
    token = StopToken()
    started = area.ws / "started"

    def stop_once_started() -> None:
        wait_for(started)
        token.stop("stopped by the test")

    threading.Thread(target=stop_once_started, daemon=True).start()
    begin = time.monotonic()
    res = runner.run(f"touch started; sleep {m}", area.ws, 60, stop=token)
    assert res.killed_reason == STOPPED and not res.timed_out
    assert time.monotonic() - begin < 10
    assert survivors(m) == []
    assert runner.run("echo next", area.ws, 30).stdout == "next\n"
    runner.close()


# --------------------------------------------------------------------------------------------
# a server that dies or is tampered with


def test_pid_1_cannot_be_killed_or_traced_from_inside(area):
    runner = sandbox(area)
    ns = namespace(runner, area)
    res = runner.run(
        "kill -KILL 1; kill -TERM 1; readlink -v /proc/1/fd/3 2>&1; cat /proc/1/environ 2>&1; "
        "echo done",
        area.ws,
        30,
    )
    assert res.stdout.count("Permission denied") == 2 and res.stdout.endswith("done\n")
    assert namespace(runner, area) == ns
    runner.close()


def test_a_command_that_changes_the_servers_limits_gets_it_replaced(area):
    """prlimit and renice reach PID 1 from inside (same user): its next children would inherit
    them, so the server asks not to be reused."""
    runner = sandbox(area)
    ns = namespace(runner, area)
    runner.run("prlimit --pid 1 --nofile=32:32; renice -n 19 -p 1 >/dev/null", area.ws, 30)
    res = runner.run(f"ulimit -n; nice; {NS}", area.ws, 30)
    limit, nice, now = res.stdout.split()
    assert now != ns and limit != "32" and nice != "19"
    runner.close()


def test_a_dead_server_gives_the_next_command_a_fresh_sandbox(area):
    runner = sandbox(area)
    ns = namespace(runner, area)
    session = runner._box[0]
    os.kill(session.server_pid, signal.SIGKILL)
    session.proc.wait(timeout=10)
    assert runner.run("echo alive", area.ws, 30).stdout == "alive\n"
    assert namespace(runner, area) != ns
    runner.close()


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@pytest.mark.parametrize(
    "reply",
    [
        _frame(b'{"exit": 999}'),
        _frame(b'{"signal": "9"}'),
        _frame(b"[1, 2]"),
        _frame(b"not json"),
        (1 << 20).to_bytes(4, "big") + b"x" * 5000,
        _frame(b'{"ready": true}'),
    ],
    ids=["exit-range", "signal-type", "not-object", "not-json", "oversized", "unknown"],
)
def test_the_host_refuses_a_bad_reply_and_ends_the_sandbox(reply):
    """Anything but a small JSON object with a valid PID or exit status ends the session (here
    the server's end of the socket is the test's, the sandbox a `sleep`)."""
    host, server = socket.socketpair()
    host.setblocking(False)
    stand_in = subprocess.Popen(["sleep", "60"])
    session = SandboxSession(stand_in, Channel(host), MountPlan((), ()), None, stand_in.pid)
    server.sendall(reply)
    command = _RemoteCommand(session)
    assert command.wait(timeout=10) == -signal.SIGKILL
    assert session.ended and session.broken
    assert stand_in.wait(timeout=10) == -signal.SIGKILL
    session.close()
    server.close()


def test_a_reply_at_end_of_file_is_an_error_not_a_result():
    host, server = socket.socketpair()
    host.setblocking(False)
    server.sendall(b"\x00\x00")
    server.close()
    with pytest.raises(SessionError):
        Channel(host).receive(5)
    host.close()


def test_a_look_without_waiting_returns_what_is_there_and_nothing_else():
    """A running command's poll asks with timeout 0: a reply that is there, else None at
    once; a reply cut in two is put together across looks."""
    host, server = socket.socketpair()
    host.setblocking(False)
    channel = Channel(host)
    assert channel.receive(0.0) is None
    whole = _frame(b'{"pid": 7}')
    server.sendall(whole[:5])
    assert channel.receive(0.0) is None
    server.sendall(whole[5:])
    assert channel.receive(0.0) == {"pid": 7}
    threading.Timer(0.05, lambda: server.sendall(_frame(b'{"exit": 0}'))).start()
    assert channel.receive(None) == {"exit": 0}  # no timeout: waits for it
    host.close()
    server.close()


# --------------------------------------------------------------------------------------------
# the end of the session


def test_close_ends_the_sandbox_and_everything_it_held(area):
    runner = sandbox(area)
    runner.run("true", area.ws, 30)
    session = runner._box[0]
    assert (area.ws / ".git").is_dir()  # the placeholder, while the session runs
    cgroup = session.cgroup
    runner.close()
    assert session.proc.poll() is not None
    assert not Path(f"/proc/{session.server_pid}").exists() or _zombie(session.server_pid)
    assert not (area.ws / ".git").exists()
    if cgroup is not None:
        assert not cgroup.path.exists()
    assert runner.run("echo again", area.ws, 30).stdout == "again\n"  # a new session
    runner.close()


def test_a_runner_nobody_closes_ends_its_sandbox_when_collected(area):
    import gc

    runner = sandbox(area)
    session = runner._box[0]
    del runner
    gc.collect()
    assert session.proc.wait(timeout=10) is not None


def test_concurrent_commands_each_get_a_sandbox(area):
    runner = sandbox(area)
    gate = area.ws / "gate"
    box: dict = {}
    slow = threading.Thread(
        target=lambda: box.update(res=runner.run(f"touch {gate}.in; {NS}; sleep 1", area.ws, 30))
    )
    slow.start()
    wait_for(Path(f"{gate}.in"))
    quick = runner.run(NS, area.ws, 30)
    slow.join()
    assert quick.exit_code == box["res"].exit_code == 0
    assert quick.stdout != box["res"].stdout  # the busy session's command, and one alone
    runner.close()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_session_that_cannot_start_leaves_each_command_a_sandbox_of_its_own(area, caplog):
    """Here the command server's interpreter is hidden (`hide`): the runner says why once and
    runs every command in a sandbox of its own, as before sessions."""
    import sys

    prefix = Path(os.path.realpath(sys.base_prefix))
    if str(prefix) in ("/", "/usr") or str(prefix).startswith("/usr/"):
        pytest.skip("the interpreter lives with the system's tools: hiding it hides bash too")
    runner = BwrapRunner(SandboxSettings(hide=[str(prefix)]), area.ws)
    with caplog.at_level("WARNING", logger="claw_nb.sandbox"):
        first = runner.run("echo one", area.ws, 30)
        second = runner.run("echo two", area.ws, 30)
    assert (first.stdout, second.stdout) == ("one\n", "two\n")
    assert runner._box[0] is None and "did not start" in (runner._session_off or "")
    assert len([r for r in caplog.records if "did not start" in r.getMessage()]) == 1
    runner.close()
