"""A session sandbox started early (`BwrapRunner.prestart`, what `claw-nb run` asks for): it is
launched without waiting for it, the first command runs in it, is held to the plan worked out
at that command like any other, and closing the runner while it starts leaves nothing behind.

Real bubblewrap (the `area` fixture skips without it)."""

from __future__ import annotations

from pathlib import Path

from claw_nb.api import build_agent
from claw_nb.config import load_config
from claw_nb.sandbox import BwrapRunner, SandboxSettings
from claw_nb.tools import ToolRegistry
from claw_nb.tools.files import read_file
from tests.sandbox.kit import assert_isolated, survivors

NS = "echo $(readlink /proc/self/ns/pid)@$(cut -d' ' -f22 /proc/1/stat)"


def started_early(area) -> BwrapRunner:
    runner = BwrapRunner(SandboxSettings(), area.ws)
    runner.prestart()
    session = runner._box[0]
    assert session is not None
    session.await_ready()
    return runner


def test_the_first_command_runs_in_the_sandbox_started_early(area):
    runner = started_early(area)
    session = runner._box[0]
    assert session is not None and not session.ended  # it outlives the thread's start-up
    assert (area.ws / ".git").is_dir()  # the placeholder, as after a first command
    assert_isolated(runner, area)
    res = runner.run(f"{NS}; cat /proc/1/cmdline", area.ws, 30)
    assert res.exit_code == 0 and "-I\0-S\0-c\0" in res.stdout  # the command server is PID 1
    assert runner._box[0] is session and session.commands == 2
    runner.close()
    assert not (area.ws / ".git").exists()


def test_what_changed_since_the_early_start_gets_a_fresh_sandbox(area):
    """`.mcp.json` made after the sandbox started is protected in the next command: the plan
    of that command differs, so it does not run in the early sandbox."""
    runner = started_early(area)
    early = runner._box[0]
    (area.ws / ".mcp.json").write_text("{}\n")
    res = runner.run("echo '{\"mcpServers\": {}}' > .mcp.json", area.ws, 30)
    assert res.exit_code != 0
    assert (area.ws / ".mcp.json").read_text() == "{}\n"
    assert runner._box[0] is not early and early.ended
    runner.close()


def test_closing_while_it_starts_leaves_no_process_and_no_placeholder(area):
    runner = BwrapRunner(SandboxSettings(), area.ws)
    runner.prestart()
    assert runner._box[0] is not None and not runner._box[0].server_pid  # not ready yet
    runner.close()
    assert runner._box[0] is None
    assert survivors(str(area.ws)) == []
    assert not (area.ws / ".git").exists()
    assert runner.run("echo again", area.ws, 30).stdout == "again\n"  # still usable
    runner.close()


def test_nothing_starts_early_without_session_sandboxes(area):
    runner = BwrapRunner(SandboxSettings(session=False), area.ws)
    runner.prestart()
    assert runner._box[0] is None
    assert not (area.ws / ".git").exists()
    runner.close()


def _config(area, scripted_server, tmp_path: Path):
    return load_config(
        area.ws,
        model="openai/scripted",
        api_base=scripted_server.url,
        api_key="sk-test",
        db_path=tmp_path / "claw.duckdb",
    )


def test_build_agent_starts_it_when_asked_and_commands_may_run(
    area, scripted_server, tmp_path, private_cache
):
    agent, _log = build_agent(_config(area, scripted_server, tmp_path), prestart=True)
    try:
        session = agent.context.runner._box[0]
        assert session is not None
        session.await_ready()
        assert session.server_pid and not session.ended
    finally:
        agent.close()
    assert survivors(str(area.ws)) == []


def test_build_agent_starts_nothing_by_default_or_without_a_command_tool(
    area, scripted_server, tmp_path, private_cache
):
    config = _config(area, scripted_server, tmp_path)
    for options in ({}, {"prestart": True, "tools": ToolRegistry([read_file])}):
        agent, _log = build_agent(config, **options)
        try:
            assert agent.context.runner._box[0] is None
        finally:
            agent.close()
    assert not (area.ws / ".claw").exists()  # made by a first command, not by an agent


def test_a_hidden_folder_replaced_before_the_first_command_stays_hidden(area):
    """What the early sandbox was built on is recorded the moment it is ready, not at the first
    command: a hidden folder removed and made again in between (ext4 gives the new one the old
    inode) is noticed, and the first command runs in a sandbox that hides the new one."""
    vault = area.ws / "vault"
    vault.mkdir()
    runner = BwrapRunner(SandboxSettings(hide=[str(vault)]), area.ws)
    runner.prestart()
    early = runner._box[0]
    assert early is not None and early._ready.wait(20) and early.server_pid
    vault.rmdir()
    vault.mkdir()
    (vault / "key").write_text("s3cret\n")
    res = runner.run(f"cat {vault}/key", area.ws, 30)
    assert "s3cret" not in res.stdout and res.exit_code != 0
    runner.close()


def test_a_sandbox_launched_early_answers_the_probe_and_is_the_runner_handed_on(area, monkeypatch):
    """`claw-nb run` launches its session sandbox instead of a probe: its start says that
    bubblewrap works (no probe process runs), and `make_runner` hands that very runner on."""
    from claw_nb import sandbox
    from claw_nb.sandbox import bwrap_probe, make_runner

    def no_probe(*args, **kwargs):
        raise AssertionError(f"a probe ran: {args}")

    monkeypatch.setattr(bwrap_probe, "_probe_cache", {})
    monkeypatch.setattr(bwrap_probe.subprocess, "run", no_probe)
    sandbox.launch_early({}, area.ws)
    runner = make_runner(SandboxSettings(), area.ws)
    assert isinstance(runner, BwrapRunner) and runner._box[0] is not None
    assert not sandbox._early
    res = runner.run("echo ok", area.ws, 30)
    assert res.exit_code == 0 and res.stdout == "ok\n" and runner._box[0].commands == 1
    runner.close()

    sandbox.launch_early({}, area.ws)  # asked for other settings: closed, a new runner made
    early = next(iter(sandbox._early.values()))
    other = make_runner(SandboxSettings(network=True), area.ws)
    assert other is not early and early._box[0] is None and not sandbox._early
    other.close()


def test_a_sandbox_that_cannot_start_early_leaves_the_probe_to_say_why(area, tmp_path, monkeypatch):
    from claw_nb import sandbox
    from claw_nb.sandbox import bwrap_probe, make_runner

    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bwrap_probe, "_probe_cache", {})
    sandbox.launch_early({"sandbox": {"bwrap_path": str(fake)}}, area.ws)
    runner = make_runner(SandboxSettings(bwrap_path=str(fake)), area.ws)
    assert runner.sandboxed is False and "No permissions" in runner.fallback_reason
    assert not sandbox._early and not bwrap_probe._launched
