"""`claw-nb rewind`: the real CLI puts back what a logged session changed, after `claw-nb run`
against the scripted server."""

from __future__ import annotations

import pytest

from claw_nb.cli import main
from claw_nb.log.store import connect
from claw_nb.testing import call, text, tool_calls


@pytest.fixture
def env(claw_env, private_cache):
    return claw_env


def run_session(env, *replies) -> str:
    """`claw-nb run` with these replies; the new session's id."""
    env.server.queue(*replies, text("done"))
    assert main(["run", "--cwd", str(env.workspace), "--mode", "auto", "do it"]) == 0
    con = connect(env.db, read_only=True)
    try:
        return con.execute("select session_id from sessions order by started_at desc").fetchone()[0]
    finally:
        con.close()


def rewind(env, session_id: str, *options: str) -> int:
    return main(["rewind", session_id, "--cwd", str(env.workspace), *options])


def test_rewind_restores_edits_a_sed_and_deletes_a_new_file(env, capsys):
    ws = env.workspace
    (ws / "app.py").write_text("x = 1\n")
    (ws / "conf.ini").write_text("debug = false\n")
    session_id = run_session(
        env,
        tool_calls(call("edit_file", {"path": "app.py", "old_string": "1", "new_string": "2"})),
        tool_calls(call("run_command", {"command": "sed -i s/false/true/ conf.ini"})),
        tool_calls(call("write_file", {"path": "notes.md", "content": "new\n"})),
    )
    capsys.readouterr()

    assert rewind(env, session_id[:6], "--yes") == 0

    assert (ws / "app.py").read_text() == "x = 1\n"
    assert (ws / "conf.ini").read_text() == "debug = false\n"
    assert not (ws / "notes.md").exists()
    out = capsys.readouterr().out
    assert f"session {session_id}" in out
    assert "restored      app.py: as before step 1 (edit_file)" in out
    assert "restored      conf.ini: as before step 2 (run_command)" in out
    assert "deleted       notes.md: created at step 3" in out


def test_without_yes_and_no_terminal_it_only_says_what_it_would_do(env, capsys):
    session_id = run_session(env, tool_calls(call("write_file", {"path": "a.txt", "content": "a"})))
    capsys.readouterr()

    assert rewind(env, session_id) == 1

    assert (env.workspace / "a.txt").exists()
    out = capsys.readouterr().out
    assert "would delete  a.txt" in out and "nothing changed (pass --yes" in out


def test_a_file_the_user_changed_since_is_reported_and_kept_unless_forced(env, capsys):
    ws = env.workspace
    (ws / "a.py").write_text("original\n")
    session_id = run_session(
        env, tool_calls(call("write_file", {"path": "a.py", "content": "agent's\n"}))
    )
    (ws / "a.py").write_text("the user's\n")
    capsys.readouterr()

    assert rewind(env, session_id, "--yes") == 1
    assert (ws / "a.py").read_text() == "the user's\n"
    out = capsys.readouterr().out
    assert "conflict      a.py: changed since step 1 by someone else (--force overwrites it)" in out

    assert rewind(env, session_id, "--yes", "--force") == 0
    assert (ws / "a.py").read_text() == "original\n"


def test_to_step_keeps_the_changes_up_to_that_step(env, capsys):
    ws = env.workspace
    session_id = run_session(
        env,
        tool_calls(call("write_file", {"path": "one.txt", "content": "1"})),
        tool_calls(call("run_command", {"command": "echo 2 > two.txt"})),
    )

    assert rewind(env, session_id, "--to-step", "1", "--yes") == 0

    assert (ws / "one.txt").exists() and not (ws / "two.txt").exists()
    assert rewind(env, session_id, "--yes") == 0
    assert not (ws / "one.txt").exists()


def test_an_unknown_session_is_one_line(env, capsys):
    assert rewind(env, "nope", "--yes") == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoints for a session 'nope'" in err and "\n" not in err
