"""Issue 19, class 1 and 5: files the agent, a cloned repository or a sandboxed command wrote
never steer what the host process reads, writes or sends, and no command reads a claw_nb log.

Each attack is checked where it hurts: in the request the model server received (the system
prompt), in files outside the workspace, in what a sandboxed command could print.
"""

from __future__ import annotations

import os
import shutil

import pytest

import claw_nb
from claw_nb.cli import main
from claw_nb.config import load_config
from claw_nb.errors import ConfigError
from claw_nb.log.store import connect
from claw_nb.prompts import project_memory
from claw_nb.sandbox import BwrapRunner, SandboxSettings, bwrap_status
from claw_nb.testing import call, text, tool_calls
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None or not bwrap_status("bwrap")[0],
    reason="bubblewrap is not installed or cannot create namespaces here",
)


@pytest.fixture
def host_secret():
    """An entry of the host process's environment as `/proc/self/environ` shows it (the block
    the process started with: what a key exported before starting Jupyter looks like)."""
    with open("/proc/self/environ", "rb") as f:
        entries = [e.decode("utf-8", "replace") for e in f.read().split(b"\0")]
    return max((e for e in entries if "=" in e), key=len)


def _options(server) -> dict:
    return {"model": "openai/scripted", "api_base": server.url, "api_key": "sk-test"}


def _system_prompts(server) -> list[str]:
    return [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "system"]


# -- project memory -----------------------------------------------------------------------------


def test_a_repository_memory_link_to_the_host_environment_is_not_read(
    scripted_server, workspace, host_secret, tmp_path
):
    """A cloned repository ships `CLAW.md -> /proc/self/environ`: the host would read its own
    environment into the system prompt, send it to the model and log it."""
    os.symlink("/proc/self/environ", workspace / "CLAW.md")
    (workspace / "CLAUDE.md").write_text("Use tabs.\n")
    scripted_server.queue(text("done"))
    db = tmp_path / "log.duckdb"
    with claw_nb.create_agent(workspace, db_path=db, **_options(scripted_server)) as agent:
        agent.run("hi")
    (system,) = _system_prompts(scripted_server)
    assert host_secret not in system
    assert "Use tabs." in system  # the next memory file present is used instead
    con = connect(db, read_only=True)
    try:
        logged = " ".join(str(r) for r in con.execute("select * from prompts").fetchall())
    finally:
        con.close()
    assert host_secret not in logged


@needs_bwrap
def test_a_memory_link_planted_by_a_sandboxed_command_is_not_read_next_session(
    scripted_server, workspace, host_secret
):
    """The attack as it happened: session 1 runs `ln -s /proc/self/environ CLAW.md` in the
    sandbox (auto mode); session 2's system prompt must not carry the host's environment."""
    scripted_server.queue(
        tool_calls(call("run_command", {"command": "ln -s /proc/self/environ CLAW.md"})),
        text("planted"),
    )
    with claw_nb.create_agent(
        workspace, mode="auto", log=False, **_options(scripted_server)
    ) as agent:
        assert agent.context.runner.sandboxed
        agent.run("plant")
    assert os.path.islink(workspace / "CLAW.md")
    scripted_server.clear_requests()
    scripted_server.queue(text("ok"))
    with claw_nb.create_agent(workspace, log=False, **_options(scripted_server)) as agent:
        agent.run("next session")
    assert all(host_secret not in s for s in _system_prompts(scripted_server))


def test_a_memory_link_into_a_hidden_home_path_is_refused(monkeypatch, tmp_path):
    """The workspace is the home folder itself, and `CLAW.md -> .ssh/id_rsa` stays inside it:
    still refused, because the sandbox hides that path from commands."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    monkeypatch.setenv("HOME", str(home))
    os.symlink(".ssh/id_rsa", home / "CLAW.md")
    assert "PRIVATE KEY" not in project_memory(home)
    with pytest.raises(UntrustedPathRefused, match="hidden path"):
        read_untrusted_text(home, "CLAW.md", max_bytes=100)


def test_a_memory_fifo_does_not_hang_the_host(workspace, time_limit):
    os.mkfifo(workspace / "AGENTS.md")
    (workspace / "CLAW.md").write_text("Be brief.\n")
    with time_limit(10):
        assert "Be brief." in project_memory(workspace)


def test_a_memory_link_inside_the_workspace_is_still_read(workspace):
    (workspace / "docs").mkdir()
    (workspace / "docs" / "rules.md").write_text("Run ruff.\n")
    os.symlink("docs/rules.md", workspace / "AGENTS.md")
    assert "Run ruff." in project_memory(workspace)


def test_the_cli_sends_no_environment_through_a_planted_memory_link(claw_env, host_secret, capsys):
    os.symlink("/proc/self/environ", claw_env.workspace / "AGENTS.md")
    claw_env.server.queue(text("done"))
    assert main(["run", "--cwd", str(claw_env.workspace), "hi"]) == 0
    assert "done" in capsys.readouterr().out
    (system,) = _system_prompts(claw_env.server)
    assert host_secret not in system


def test_the_notebook_sends_no_environment_through_a_planted_memory_link(
    claw_env, host_secret, monkeypatch
):
    from tests.notebook_shell import claw_shell

    os.symlink("/proc/self/environ", claw_env.workspace / "CLAW.md")
    with claw_shell(monkeypatch, claw_env.workspace) as shell:
        claw_env.server.queue(text("done"))
        shell.run_cell_magic("claw", "", "hi")
    (system,) = _system_prompts(claw_env.server)
    assert host_secret not in system


# -- settings and prompt files ------------------------------------------------------------------


def test_a_settings_file_that_is_a_link_out_of_the_workspace_is_refused_in_one_line(
    workspace, tmp_path, capsys, claw_env
):
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text("max_steps = 3\n")
    (workspace / ".claw").mkdir()
    os.symlink(elsewhere, workspace / ".claw" / "settings.toml")
    with pytest.raises(ConfigError, match="refused"):
        load_config(workspace)
    assert main(["run", "--cwd", str(workspace), "hi"]) != 0
    err = capsys.readouterr().err
    assert "settings.toml" in err and "Traceback" not in err


def test_a_settings_prompt_swapped_for_a_link_after_loading_is_not_read(workspace, tmp_path):
    """`prompt_name` is checked when settings load; the file is read later, at render time,
    through the no-follow open, so a link swapped in between does not redirect it."""
    from claw_nb.prompts import template_text

    prompts = workspace / ".claw" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "mine.md").write_text("You are terse.\n")
    (workspace / ".claw" / "settings.toml").write_text('prompt_name = "mine"\n')
    config = load_config(workspace)
    assert template_text(config.prompt_name, workspace) == "You are terse.\n"
    secret = tmp_path / "secret.md"
    secret.write_text("TOP SECRET\n")
    (prompts / "mine.md").unlink()
    os.symlink(secret, prompts / "mine.md")
    with pytest.raises(ValueError, match="refused"):
        template_text(config.prompt_name, workspace)


# -- host writes into folders someone else shaped -----------------------------------------------


@needs_bwrap
def test_saved_command_output_does_not_follow_a_planted_outputs_link(workspace, tmp_path):
    """A repository ships `.claw/outputs -> somewhere`: the host saves long outputs there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / ".claw").mkdir()
    os.symlink(elsewhere, workspace / ".claw" / "outputs")
    runner = BwrapRunner(SandboxSettings(), workspace)
    res = runner.run("head -c 100000 /dev/zero | tr '\\0' x", workspace, 30)
    assert res.exit_code == 0
    assert list(elsewhere.iterdir()) == []


def test_adopt_does_not_write_through_a_planted_settings_link(workspace, tmp_path):
    from claw_nb.lab.optimize.adopt import adopt

    target = tmp_path / "bashrc"
    target.write_text("# the user's shell\n")
    (workspace / ".claw").mkdir()
    os.symlink(target, workspace / ".claw" / "settings.toml")
    with pytest.raises(ConfigError):
        adopt("terse", system_prompt="Be terse.", settings={"max_steps": 9}, workspace=workspace)
    assert target.read_text() == "# the user's shell\n"


def test_saved_tool_outputs_are_not_written_through_a_planted_link(workspace, tmp_path):
    from claw_nb.context.outputs import OutputStore

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / ".claw").mkdir()
    os.symlink(elsewhere, workspace / ".claw" / "outputs")
    store = OutputStore(workspace / ".claw" / "outputs" / "s1", root=workspace)
    handle = store.put("x" * 100)
    assert store.get(handle) == "x" * 100  # memory still has it
    assert list(elsewhere.rglob("*")) == []


# -- logs are private ---------------------------------------------------------------------------


@needs_bwrap
def test_no_command_reads_a_claw_nb_log_database(tmp_path):
    """Another workspace's log, and this workspace's own, hold the conversations: a sandboxed
    command sees empty files where they are."""
    ws = tmp_path / "ws"
    other = tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    own_db = ws / ".claw" / "claw.duckdb"
    other_db = other / ".claw" / "claw.duckdb"
    for db in (own_db, other_db):
        con = connect(db)
        con.execute("create table secret_rows as select 'conversation-text' as t")
        con.close()
    custom = tmp_path / "custom" / "mine.duckdb"
    con = connect(custom)
    con.close()
    runner = BwrapRunner(SandboxSettings(), ws)
    for db in (own_db, other_db, custom):
        assert db.stat().st_size > 0
        assert b"DUCK" in db.read_bytes()[:64]  # the host reads a real database there
        probe = (
            f"if head -c 64 {db} 2>/dev/null | grep -q DUCK; then echo READ; else echo hidden; fi"
        )
        res = runner.run(probe, ws, 30)
        assert res.stdout.strip() == "hidden", (db, res.stdout, res.stderr)


def test_the_log_index_stays_cheap_and_forgets_databases_that_are_gone(tmp_path, monkeypatch):
    """One small index file, not a scan of every journal folder: the sandbox reads it before
    each command."""
    from claw_nb.log import database_index, journal_paths

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    journal_paths._roots.clear()
    try:
        gone = []
        for i in range(100):
            db = tmp_path / f"db{i}.duckdb"
            db.write_bytes(b"x")
            database_index.register_database(db)
            database_index.register_database(db)  # once only
            gone.append(db)
        kept = tmp_path / "kept.duckdb"
        kept.write_bytes(b"x")
        database_index.register_database(kept)
        assert len(database_index.registered_databases()) == 101
        for db in gone:
            db.unlink()
        assert database_index.registered_databases() == [kept]
        index = journal_paths.journal_root() / database_index.DATABASES_FILE
        assert index.read_text().splitlines() == [str(kept)]
    finally:
        journal_paths._roots.clear()


def test_a_log_the_private_tmp_already_hides_costs_no_mount(tmp_path, monkeypatch):
    """Each mask is a mount made for every command: a database under /tmp is hidden by the
    sandbox's own /tmp, unless the workspace (bound back) holds it."""
    from claw_nb.log import database_index, journal_paths

    if not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip("needs a scratch directory under /tmp")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    journal_paths._roots.clear()
    try:
        ws = (tmp_path / "ws").resolve()
        own = ws / ".claw" / "claw.duckdb"
        other = tmp_path.resolve() / "other" / "claw.duckdb"
        for db in (own, other):
            db.parent.mkdir(parents=True)
            db.write_bytes(b"DUCK")
            database_index.register_database(db)
        args = BwrapRunner(SandboxSettings(), ws).bwrap_args(ws, ws)
        assert str(own) in args
        assert str(other) not in args
    finally:
        journal_paths._roots.clear()


def test_a_missing_file_is_none_without_working_out_the_hidden_paths(workspace, monkeypatch):
    """Memory and settings files are usually absent: the hidden paths (a scan of every log
    database) are worked out only for a file that is there."""
    import claw_nb.untrusted as untrusted

    asked = []
    monkeypatch.setattr(untrusted, "secret_paths", lambda: asked.append(1) or [])
    assert read_untrusted_text(workspace, "CLAW.md", max_bytes=100) is None
    assert asked == []
    (workspace / "CLAW.md").write_text("Use tabs.\n")
    assert read_untrusted_text(workspace, "CLAW.md", max_bytes=100) == "Use tabs.\n"
    assert asked == [1]
