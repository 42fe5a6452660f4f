"""Sandbox settings, runner selection and the plain (unsandboxed) runner's own containment:
timeouts on the whole process tree, detached daemons, rlimits, process cap, output files and
environment scrubbing. The bubblewrap attacks are in test_attacks.py and test_escapes.py."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from claw_nb.sandbox import (
    BwrapRunner,
    CommandResult,
    OutputLog,
    PlainRunner,
    SandboxSettings,
    SandboxSettingsError,
    bwrap_status,
    make_runner,
)
from claw_nb.sandbox.environment import is_secret_name, is_secret_value, scrub_env
from claw_nb.tools import ToolContext, ToolError
from claw_nb.tools.base import ToolTimeout
from claw_nb.tools.command import format_result, run_command
from tests.sandbox.kit import PeakTasks, marker, survivors

# --------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    return d.resolve()


def plain(ws: Path, **settings) -> PlainRunner:
    return PlainRunner(SandboxSettings(**settings), ws)


# --------------------------------------------------------------------------------------------
# settings


def test_settings_defaults():
    s = SandboxSettings()
    assert s.enabled and not s.network
    assert (s.cpu_seconds, s.memory_mb, s.file_size_mb, s.processes) == (300, 4096, 1024, 512)
    assert s.max_output_file_mb == 64
    assert s.writable == () and s.hide == () and s.env_passthrough == ()
    assert ".claw" in s.read_only
    assert s.session  # one sandbox for a runner's commands


def test_settings_read_the_sandbox_table_and_overrides_win():
    settings = {
        "model": "x",
        "sandbox": {
            "network": True,
            "writable": ["~/.cache/pip", "build"],
            "hide": "~/private",
            "env_passthrough": ["MY_API_KEY"],
            "cpu_seconds": 60,
            "memory_mb": 2048,
            "processes": 100,
        },
    }
    s = SandboxSettings.from_settings(settings, processes=50, network=None)
    assert s.network is True  # None means "not given"
    assert s.writable == ("~/.cache/pip", "build")
    assert s.hide == ("~/private",)
    assert s.env_passthrough == ("MY_API_KEY",)
    assert (s.cpu_seconds, s.memory_mb, s.processes) == (60, 2048, 50)
    assert SandboxSettings.from_settings({}) == SandboxSettings()
    assert SandboxSettings.from_settings(None, enabled="false").enabled is False
    assert SandboxSettings.from_settings({"sandbox": {"session": False}}).session is False


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(SandboxSettingsError, match="unknown .*netwrk"):
        SandboxSettings.from_settings({"sandbox": {"netwrk": True}})
    with pytest.raises(SandboxSettingsError, match="network must be true or false"):
        SandboxSettings.from_settings({"sandbox": {"network": "maybe"}})
    with pytest.raises(SandboxSettingsError, match="memory_mb must be a number"):
        SandboxSettings.from_settings({"sandbox": {"memory_mb": -1}})
    with pytest.raises(SandboxSettingsError, match="writable must be a list"):
        SandboxSettings.from_settings({"sandbox": {"writable": [1, 2]}})
    with pytest.raises(SandboxSettingsError, match="table"):
        SandboxSettings.from_settings({"sandbox": "on"})


# --------------------------------------------------------------------------------------------
# choosing a runner


def test_missing_bwrap_falls_back_to_plain_saying_so_once(tmp_path, ws, caplog):
    """Said once, as one line: not also as a Python warning with a source line."""
    settings = SandboxSettings(bwrap_path=str(tmp_path / "no-such-bwrap"))
    with warnings.catch_warnings(), caplog.at_level("WARNING", logger="claw_nb.sandbox"):
        warnings.simplefilter("error")
        runner = make_runner(settings, ws)
        again = make_runner(settings, ws)
    assert isinstance(runner, PlainRunner)
    assert runner.sandboxed is False and runner.name == "plain"
    reason = runner.fallback_reason
    assert [r.getMessage() for r in caplog.records] == [f"claw_nb: {reason}"]
    assert "not found" in reason and "WITHOUT an OS sandbox" in reason
    assert "sudo apt-get install bubblewrap" in reason and "dnf install bubblewrap" in reason
    assert again.fallback_reason == reason and again.fallback_announced
    assert again.run("echo still works", ws, 10).stdout == "still works\n"


def test_cli_says_a_missing_bwrap_once(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".claw").mkdir(parents=True)
    (ws / ".claw" / "settings.toml").write_text(
        f'[sandbox]\nbwrap_path = "{tmp_path / "no-such-bwrap"}"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "claw_nb",
            "run",
            "--cwd",
            str(ws),
            "--model",
            "openai/x",
            "--api-base",
            "http://127.0.0.1:9/v1",
            "--api-key",
            "none",
            "hello",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert p.stderr.count("was not found") == 1, p.stderr
    assert "Warning" not in p.stderr and "warnings.warn" not in p.stderr


def test_bwrap_that_cannot_create_namespaces_falls_back(tmp_path, ws, caplog):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    ok, reason = bwrap_status(str(fake))
    assert not ok and "cannot create a sandbox" in reason and "No permissions" in reason
    with caplog.at_level("WARNING", logger="claw_nb.sandbox"):
        runner = make_runner(SandboxSettings(bwrap_path=str(fake)), ws)
    assert "cannot create a sandbox" in caplog.text
    assert runner.sandboxed is False and runner.fallback_reason == reason


def test_disabled_sandbox_gives_a_plain_runner_without_warning(ws):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner = make_runner(SandboxSettings(enabled=False), ws)
    assert runner.sandboxed is False and "disabled" in runner.fallback_reason


def test_usable_bwrap_gives_the_sandboxed_runner(ws):
    ok, reason = bwrap_status("bwrap")
    if not ok:
        pytest.skip(reason)
    runner = make_runner(SandboxSettings(), ws)
    assert isinstance(runner, BwrapRunner)
    assert runner.sandboxed is True and runner.name == "bubblewrap"
    assert runner.fallback_reason is None


# --------------------------------------------------------------------------------------------
# environment scrubbing


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AZURE_CLIENT_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GH_HOST",
        "GITHUB_TOKEN",
        "HF_TOKEN",
        "DB_PASSWORD",
        "MYSQL_PASSWD",
        "STRIPE_SECRET",
        "SSH_AUTH_SOCK",
        "CLAW_API_KEY",
        "npm_config__authToken",
        "DOCKER_HOST",
        "MYSQL_PWD",
        "DB_PASS",
        "SENTRY_DSN",
        "APP_JWT",
        "JWT_PUBLIC",
        "RAILS_SIGNING_SALT",
        "SESSION_ID",
        "FLASK_SESSION_COOKIE",
        "GITLAB_PAT",
        "AZURE_STORAGE_CONNECTION_STRING",
        "PIP_INDEX_URL",
    ],
)
def test_secret_variable_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "HOME",
        "LANG",
        "TERM",
        "PWD",
        "OLDPWD",
        "GITHUB_ACTIONS",
        "CI",
        "PASSES",
        "VIRTUAL_ENV",
        "PYTHONPATH",
    ],
)
def test_ordinary_variable_names(name):
    assert not is_secret_name(name)


def test_secret_looking_values_are_caught_whatever_the_name():
    assert is_secret_value("postgres://app:hunter2@db.internal:5432/app")
    assert is_secret_value("sk-" + "a" * 40)
    assert is_secret_value("ghp_" + "b" * 36)
    assert not is_secret_value("https://example.com/path")
    assert not is_secret_value("/usr/local/bin:/usr/bin")


def test_scrub_env_honours_the_passthrough_list_with_globs():
    env = {"PATH": "/bin", "OPENAI_API_KEY": "k", "MY_API_KEY": "m", "TEAM_TOKEN_A": "t"}
    clean, removed = scrub_env(env, ["MY_API_KEY", "TEAM_TOKEN_*"])
    assert clean == {"PATH": "/bin", "MY_API_KEY": "m", "TEAM_TOKEN_A": "t"}
    assert removed == ["OPENAI_API_KEY"]


def test_plain_runner_does_not_pass_secrets_and_honours_passthrough(ws, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-openai")
    monkeypatch.setenv("MY_API_KEY", "my-own-key")
    monkeypatch.setenv("APP_DSN_LIKE", "postgres://u:pw-in-url@host/db")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    out = plain(ws, env_passthrough=("MY_API_KEY",)).run("env", ws, 10).stdout
    assert "sk-secret-openai" not in out and "OPENAI_API_KEY" not in out
    assert "pw-in-url" not in out
    assert "MY_API_KEY=my-own-key" in out and "HARMLESS_SETTING=visible" in out


def test_commands_get_a_plain_terminal(ws, monkeypatch):
    """A kernel sets FORCE_COLOR, CLICOLOR_FORCE and TERM=xterm-color: colour codes in every
    command's output cost tokens and confuse models (issue 14)."""
    for name, value in (
        ("FORCE_COLOR", "1"),
        ("CLICOLOR_FORCE", "1"),
        ("PY_COLORS", "1"),
        ("TERM", "xterm-color"),
    ):
        monkeypatch.setenv(name, value)
    out = plain(ws).run("env", ws, 10).stdout.splitlines()
    assert "NO_COLOR=1" in out and "TERM=dumb" in out
    assert not [
        line for line in out if line.startswith(("FORCE_COLOR=", "CLICOLOR_FORCE=", "PY_COLORS="))
    ]


# --------------------------------------------------------------------------------------------
# timeouts, process trees, daemons (plain runner)


def test_plain_sleep_is_killed_at_the_timeout(ws):
    start = time.monotonic()
    res = plain(ws).run("echo started; sleep 1000", ws, 1)
    assert time.monotonic() - start < 5
    assert res.timed_out and res.killed_reason == "timeout" and res.stdout == "started\n"


@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "subreaper"])
def test_plain_detached_daemons_do_not_survive_the_command(ws, cgroup):
    """setsid, setsid -f, a double fork and nohup+disown all escape the process group; the
    subreaper supervisor (and the cgroup, when there is one) still kills them."""
    m = marker()
    cmd = (
        f"setsid sleep {m} & setsid -f sleep {m}; (setsid sh -c 'sleep {m} &' &); "
        f"nohup sleep {m} >/dev/null 2>&1 & disown; echo started"
    )
    start = time.monotonic()
    res = plain(ws, cgroup=cgroup).run(cmd, ws, 30)
    assert res.exit_code == 0 and "started" in res.stdout
    assert time.monotonic() - start < 5
    assert survivors(m) == []


def test_plain_daemon_ignoring_sigterm_is_killed_at_the_timeout(ws):
    m = marker()
    cmd = f"setsid bash -c \"trap '' TERM; sleep {m}\" & sleep {m}"
    start = time.monotonic()
    res = plain(ws, cgroup=False).run(cmd, ws, 1)
    assert res.timed_out and time.monotonic() - start < 5
    assert survivors(m) == []


@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "watchdog"])
def test_plain_fork_bomb_is_contained(ws, cgroup):
    """A fork bomb as root (RLIMIT_NPROC does not bind root): a cgroup pids.max or the
    supervisor's process count stops it; nothing of it survives; the machine stays usable."""
    m = marker()
    cmd = f": {m}; :(){{ :|:& }};:; sleep 30"
    start = time.monotonic()
    with PeakTasks() as peak:
        res = plain(ws, processes=32, cgroup=cgroup).run(cmd, ws, 10)
    elapsed = time.monotonic() - start
    assert res.killed_reason == "process limit (32)", res
    assert elapsed < 10
    assert survivors(m) == []
    assert peak.extra < 2000


# --------------------------------------------------------------------------------------------
# rlimits (plain runner)


def test_plain_memory_limit_stops_a_memory_hog(ws):
    code = "x = bytearray(8 << 30); print('allocated')"
    res = plain(ws, memory_mb=256).run(
        f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}", ws, 30
    )
    assert res.exit_code != 0 and "allocated" not in res.stdout
    assert "MemoryError" in res.stderr


def test_plain_file_size_limit(ws):
    res = plain(ws, file_size_mb=1).run("head -c 5000000 /dev/zero > big.bin", ws, 30)
    assert res.exit_code != 0 and res.killed_reason == "file size limit (1 MB)"
    assert (ws / "big.bin").stat().st_size <= 1 << 20


def test_plain_cpu_limit(ws):
    res = plain(ws, cpu_seconds=1).run("while :; do :; done", ws, 20)
    assert not res.timed_out and res.killed_reason == "CPU time limit (1 s)"
    assert res.duration_ms < 10_000


def test_plain_limits_are_visible_to_the_command(ws):
    res = plain(ws, cpu_seconds=77, memory_mb=512, file_size_mb=3).run(
        "ulimit -t; ulimit -v; ulimit -f; ulimit -c", ws, 10
    )
    assert res.stdout.split() == ["77", str(512 * 1024), str(3 * 1024), "0"]


def test_zero_means_no_limit(ws):
    res = plain(ws, cpu_seconds=0, memory_mb=0).run("ulimit -t; ulimit -v", ws, 10)
    assert res.stdout.split() == ["unlimited", "unlimited"]


def test_missing_shell_is_reported(ws):
    res = PlainRunner(SandboxSettings(shell="no-such-shell-xyz"), ws).run("true", ws, 10)
    assert res.exit_code == 127 and "no-such-shell-xyz" in res.stderr


# --------------------------------------------------------------------------------------------
# output capture and the saved output file


def test_large_output_is_saved_to_a_file_in_the_workspace(ws):
    res = plain(ws).run("seq 1 2000000; echo tail-marker", ws, 60)
    assert res.output_file is not None
    saved = Path(res.output_file)
    assert saved.parent == ws / ".claw" / "outputs" and saved.suffix == ".log"
    text = saved.read_text()
    assert text.startswith("1\n2\n") and text.endswith("2000000\ntail-marker\n")
    assert len(text.encode()) == res.stdout_bytes


def test_small_output_is_not_saved(ws):
    res = plain(ws).run("echo short", ws, 10)
    assert res.output_file is None and not (ws / ".claw" / "outputs").exists()


def test_saved_output_file_is_capped_and_keeps_the_end(ws):
    res = plain(ws, max_output_file_mb=1).run(
        "head -c 5000000 /dev/zero | tr '\\0' a; echo END", ws, 60
    )
    data = Path(res.output_file).read_bytes()
    assert len(data) < (1 << 20) + 200
    assert b"bytes omitted" in data and data.endswith(b"a\nEND\n") or data.endswith(b"aEND\n")


def test_output_log_unit(tmp_path):
    log = OutputLog(tmp_path / "out", threshold=10, max_bytes=100, tail_bytes=10)
    log.feed(b"0123456789")
    assert log.path is None  # not over the threshold yet
    for _ in range(30):
        log.feed(b"abcdefghij")
    path = Path(log.close())
    data = path.read_bytes()
    assert data.startswith(b"0123456789abc") and data.endswith(b"abcdefghij")
    assert b"[210 bytes omitted" in data


def test_run_command_names_the_saved_file_when_output_is_truncated(ws):
    ctx = ToolContext(workspace=ws, runner=plain(ws))
    out = run_command.run(ctx, {"command": "seq 1 100000"})
    assert "output truncated" in out and ".claw/outputs/" in out
    assert str(ws) not in out.split("saved in ")[1]  # shown relative to the workspace


def test_run_command_timeout_raises_a_timed_out_tool_error(ws):
    ctx = ToolContext(workspace=ws, runner=plain(ws))
    with pytest.raises(ToolError) as info:
        run_command.run(ctx, {"command": "echo partial; sleep 100", "timeout": 1})
    assert isinstance(info.value, ToolTimeout)
    assert "timed out after 1 s" in str(info.value) and "partial" in str(info.value)


def test_format_result_names_signals_and_limits():
    res = CommandResult(-9, "", "", False, 1.0, 0, 0, killed_reason="process limit (32)")
    text = format_result(res, 10)
    assert "killed by SIGKILL" in text and "process limit (32)" in text
    res = CommandResult(-24, "", "", False, 1.0, 0, 0, killed_reason="CPU time limit (5 s)")
    assert "CPU time limit (5 s) reached" in format_result(res, 10)
