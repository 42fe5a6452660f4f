"""`claw-nb run` with a cloned repository's hooks: none runs until the user approves it
(`claw-nb hooks approve`, a yes on the terminal, or `--yes` for one run), and a changed hook
asks again. `claw-nb hooks` lists, approves and revokes."""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys

import pytest

from claw_nb.cli import main
from claw_nb.testing import text
from tests.helpers import ROOT
from tests.hooks.scripts import hook_command, recorded, write_claude_hooks, write_claw_hooks
from tests.hooks.test_cli_hooks import hook_rows, run_cli

SKIPPED = "1 hook of this workspace not run until you approve them"


def plant(workspace, command: str) -> None:
    """A cloned repository's `.claude/settings.json`, with one SessionStart hook."""
    hook = {"type": "command", "command": command}
    write_claude_hooks(workspace, {"SessionStart": [{"hooks": [hook]}]})


def hooks_cli(workspace, *words: str) -> subprocess.CompletedProcess:
    """`claw-nb hooks ...` in its own process, stdin not a terminal."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "claw_nb.cli", "hooks", *words, "--cwd", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_a_cloned_repository_s_hook_does_not_run_without_approval(claw_env, tmp_path):
    record = tmp_path / "ran.jsonl"
    plant(claw_env.workspace, hook_command(record))
    claw_env.server.queue(text("hi"))
    proc = run_cli(claw_env, "say hi", approve=False)
    assert proc.returncode == 0, proc.stderr
    assert recorded(record) == []
    assert hook_rows(claw_env.db) == []
    (line,) = [x for x in proc.stderr.splitlines() if "hook" in x]
    assert line.startswith(f"claw_nb: {SKIPPED}: `claw-nb hooks list` shows their commands")


def test_it_runs_once_approved_and_asks_again_after_the_command_changes(claw_env, tmp_path):
    ws, first, second = claw_env.workspace, tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    plant(ws, hook_command(first))
    approved = hooks_cli(ws, "approve")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("approved SessionStart hook ")
    assert approved.stdout.strip().endswith(f"(.claude/settings.json): {hook_command(first)}")
    claw_env.server.queue(text("one"))
    assert run_cli(claw_env, "first", approve=False).returncode == 0
    assert [r["hook_event_name"] for r in recorded(first)] == ["SessionStart"]

    plant(ws, hook_command(second))  # the repository changes the command
    claw_env.server.queue(text("two"))
    proc = run_cli(claw_env, "second", approve=False)
    assert proc.returncode == 0, proc.stderr
    assert recorded(second) == [] and len(recorded(first)) == 1
    assert SKIPPED in proc.stderr
    assert "  not approved  SessionStart" in hooks_cli(ws, "list").stdout


def test_yes_runs_the_hooks_for_that_run_only_and_names_each_on_stderr(claw_env, tmp_path):
    record = tmp_path / "ran.jsonl"
    plant(claw_env.workspace, hook_command(record))
    claw_env.server.queue(text("one"), text("two"))
    proc = run_cli(claw_env, "--yes", "first", approve=False)
    assert proc.returncode == 0, proc.stderr
    assert len(recorded(record)) == 1
    (line,) = [x for x in proc.stderr.splitlines() if "--yes runs hook" in x]
    assert line.endswith(
        f"from .claude/settings.json for this run: SessionStart, timeout 60 s: "
        f"{hook_command(record)}"
    )
    assert "--yes" not in proc.stdout
    proc = run_cli(claw_env, "second", approve=False)
    assert len(recorded(record)) == 1  # --yes did not remember it
    assert SKIPPED in proc.stderr


def test_hooks_list_shows_id_state_event_matcher_command_and_file(claw_env, tmp_path):
    ws = claw_env.workspace
    write_claw_hooks(ws, {"PreToolUse": [{"matcher": "run_command", "command": "make lint"}]})
    plant(ws, hook_command(tmp_path / "ran.jsonl"))
    ours_id = hooks_cli(ws, "list").stdout.split()[0]  # ours come first
    assert hooks_cli(ws, "approve", ours_id).returncode == 0
    lines = hooks_cli(ws, "list").stdout.splitlines()
    (ours, claude) = [line for line in lines if not line.startswith(" ")]
    assert ours == (
        f"{ours_id}  approved  PreToolUse  matcher run_command  timeout 60 s  (.claw/settings.toml)"
    )
    assert claude.split("  ", 1)[1] == (
        "not approved  SessionStart  matcher *  timeout 60 s  (.claude/settings.json)"
    )
    claude_id = claude.split()[0]
    assert lines[1] == "  make lint"
    assert lines[3:] == [
        "  " + hook_command(tmp_path / "ran.jsonl"),
        f"  approve: claw-nb hooks approve {claude_id}  (notebook: %claw hooks approve {claude_id})",
    ]


def test_hooks_revoke_forgets_the_approvals(claw_env, tmp_path):
    ws = claw_env.workspace
    plant(ws, hook_command(tmp_path / "ran.jsonl"))
    hooks_cli(ws, "approve")
    assert "  approved  " in hooks_cli(ws, "list").stdout
    revoked = hooks_cli(ws, "revoke")
    assert revoked.stdout.strip() == "revoked 1 hook approval(s) of this workspace"
    assert "  not approved  " in hooks_cli(ws, "list").stdout


def test_an_unknown_id_is_one_line_that_names_the_known_ones(claw_env, tmp_path):
    plant(claw_env.workspace, "true")
    proc = hooks_cli(claw_env.workspace, "approve", "deadbeef")
    assert proc.returncode == 1
    assert proc.stderr.startswith("claw-nb hooks: no hook with id deadbeef; hooks: ")


class Terminal(io.StringIO):
    """stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_asks_y_n_showing_the_exact_command_and_remembers_a_yes(
    claw_env, tmp_path, monkeypatch, capsys
):
    record = tmp_path / "ran.jsonl"
    command = hook_command(record) + " # \x1b[2K\rlooks harmless"  # a comment: only shown
    plant(claw_env.workspace, command)
    questions = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(builtins, "input", lambda q: questions.append(q) or "y")
    claw_env.server.queue(text("one"), text("two"))
    assert main(["run", "--cwd", str(claw_env.workspace), "first"]) == 0
    shown = capsys.readouterr().out
    assert questions == ["approve and remember it? [y/N]: "]
    assert "a SessionStart hook from .claude/settings.json would run on this machine" in shown
    assert "# \\e[2K\\rlooks harmless" in shown and "\x1b" not in shown
    assert len(recorded(record)) == 1
    assert main(["run", "--cwd", str(claw_env.workspace), "second"]) == 0
    assert len(questions) == 1 and len(recorded(record)) == 2  # remembered: not asked again


@pytest.mark.parametrize("answer", ["n", ""])
def test_a_terminal_no_skips_the_hook(claw_env, tmp_path, monkeypatch, answer):
    record = tmp_path / "ran.jsonl"
    plant(claw_env.workspace, hook_command(record))
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(builtins, "input", lambda q: answer)
    claw_env.server.queue(text("one"))
    assert main(["run", "--cwd", str(claw_env.workspace), "first"]) == 0
    assert recorded(record) == []


def test_json_output_never_asks_even_on_a_terminal(claw_env, tmp_path, monkeypatch, capsys):
    record = tmp_path / "ran.jsonl"
    plant(claw_env.workspace, hook_command(record))
    monkeypatch.setattr(sys, "stdin", Terminal())

    def no_questions(question):
        raise AssertionError(f"asked: {question}")

    monkeypatch.setattr(builtins, "input", no_questions)
    claw_env.server.queue(text("one"))
    code = main(["run", "--cwd", str(claw_env.workspace), "--output-format", "json", "first"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["final_answer"] == "one"
    assert recorded(record) == []
