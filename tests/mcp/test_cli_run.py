"""`claw-nb run` and `claw-nb mcp` with real MCP servers and the scripted model server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from claw_nb.cli import main
from claw_nb.cli.mcp import terminal_server_approver
from claw_nb.log.store import connect
from claw_nb.mcp.specs import ServerSpec
from claw_nb.testing import call, text, tool_calls
from tests.mcp.conftest import alive, notes_entry, started_pids, write_mcp_json


def rows(db, sql):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def sent_tool_names(request: dict) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def last_tool_result(request: dict) -> str:
    return request["messages"][-1]["content"]


def run(workspace, *options: str) -> int:
    return main(["run", "--cwd", str(workspace), *options, "use the notes"])


def test_an_approved_server_serves_a_run_through_policy_checks_budgets_and_log(
    claw_env, capfd, tmp_path
):
    ws, pids = claw_env.workspace, tmp_path / "pids"
    write_mcp_json(ws, {"notes": notes_entry(pids)})
    assert main(["mcp", "approve", "notes", "--cwd", str(ws)]) == 0
    approved = capfd.readouterr().out
    assert f"approved notes (.mcp.json): NOTES_PIDS={pids} {sys.executable} " in approved
    assert "notes: ready, 6 tools" in approved
    claw_env.server.queue(
        tool_calls(call("mcp__notes__lookup", {"key": "greeting"})),
        tool_calls(call("mcp__notes__add_note", {"key": "k", "text": "t"})),
        tool_calls(call("mcp__notes__lookup", {})),
        tool_calls(call("mcp__notes__long_text", {"chars": 300_000})),
        text("done"),
    )
    assert run(ws) == 0
    shown = capfd.readouterr()
    assert "notes-server stderr" not in shown.out + shown.err  # its stderr went elsewhere
    first, *later = claw_env.server.requests
    lookup = next(t for t in first["tools"] if t["function"]["name"] == "mcp__notes__lookup")
    assert lookup["function"]["parameters"]["required"] == ["key"]
    assert last_tool_result(later[0]) == "hello from the notes server"
    assert last_tool_result(later[1]).startswith("Error: permission denied: asks: mode ask")
    assert "invalid arguments for mcp__notes__lookup" in last_tool_result(later[2])
    calls = rows(
        claw_env.db,
        "select tool, ok, error_kind, decision, result_chars, result_chars_sent "
        "from tool_calls order by step",
    )
    assert [c[:3] for c in calls] == [
        ("mcp__notes__lookup", True, None),
        ("mcp__notes__add_note", False, "denied"),
        ("mcp__notes__lookup", False, "schema"),
        ("mcp__notes__long_text", True, None),
    ]
    assert calls[0][3] == "allowed: read tool"
    assert calls[3][4] == 300_000 and calls[3][5] < 300_000  # the output budget clipped it
    approving, running = started_pids(pids)  # `mcp approve` started it once too
    assert not alive(approving) and not alive(running)  # each stopped with its session


def test_a_rule_allows_a_whole_server(claw_env, tmp_path):
    ws = claw_env.workspace
    (ws / ".claw").mkdir()
    (ws / ".claw" / "settings.toml").write_text('[permissions]\nallow = ["mcp__notes"]\n')
    write_mcp_json(ws, {"notes": notes_entry()})
    assert main(["mcp", "approve", "notes", "--cwd", str(ws)]) == 0
    claw_env.server.queue(
        tool_calls(call("mcp__notes__add_note", {"key": "k", "text": "t"})), text("ok")
    )
    assert run(ws) == 0
    assert last_tool_result(claw_env.server.requests[1]) == "stored k (2 notes)"


@pytest.mark.slow
def test_workspace_servers_wait_for_approval_and_one_line_says_how(claw_env, tmp_path):
    ws, pids = claw_env.workspace, tmp_path / "pids"
    write_mcp_json(ws, {"notes": notes_entry(pids)})
    claw_env.server.queue(text("no notes"))
    proc = subprocess.run(
        [sys.executable, "-m", "claw_nb.cli", "run", "--cwd", str(ws), "use the notes"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert not any(n.startswith("mcp__") for n in sent_tool_names(claw_env.server.requests[0]))
    (line,) = [x for x in proc.stderr.splitlines() if "MCP" in x]
    assert "MCP servers not started until you approve them: notes" in line
    assert "claw-nb mcp approve notes" in line
    assert started_pids(pids) == []  # nothing ran


def test_yes_starts_servers_for_one_run_without_remembering_them(claw_env, capfd):
    ws = claw_env.workspace
    write_mcp_json(ws, {"notes": notes_entry()})
    claw_env.server.queue(text("ok"))
    assert run(ws, "--yes") == 0
    assert "mcp__notes__lookup" in sent_tool_names(claw_env.server.requests[0])
    capfd.readouterr()
    assert main(["mcp", "list", "--cwd", str(ws)]) == 0
    assert "notes  not approved  (.mcp.json)" in capfd.readouterr().out


def test_a_changed_server_command_asks_again(claw_env, capfd, caplog, tmp_path):
    ws, pids = claw_env.workspace, tmp_path / "pids"
    write_mcp_json(ws, {"notes": notes_entry()})
    assert main(["mcp", "approve", "notes", "--cwd", str(ws)]) == 0
    write_mcp_json(ws, {"notes": notes_entry(pids, EXTRA="1")})  # e.g. the agent edited it
    claw_env.server.queue(text("ok"))
    capfd.readouterr()
    assert run(ws) == 0
    assert "claw-nb mcp approve notes" in caplog.text
    assert started_pids(pids) == []
    assert main(["mcp", "revoke", "notes", "--cwd", str(ws)]) == 0
    assert "revoked 1 approval(s) of notes" in capfd.readouterr().out


def test_dead_and_silent_servers_are_named_and_the_run_goes_on(claw_env, caplog, monkeypatch):
    ws = claw_env.workspace
    monkeypatch.setenv("MCP_TIMEOUT", "1500")  # Claude Code's variable, in milliseconds
    write_mcp_json(
        ws,
        {
            "missing": {"command": "claw-nb-no-such-server"},
            "silent": {"command": sys.executable, "args": ["-c", "import sys; sys.stdin.read()"]},
        },
    )
    claw_env.server.queue(text("answered anyway"))
    started = time.perf_counter()
    assert run(ws, "--yes") == 0
    assert time.perf_counter() - started < 30
    said = caplog.text
    assert (
        "MCP server missing (.mcp.json) failed: command not found: claw-nb-no-such-server" in said
    )
    assert "MCP server silent (.mcp.json) failed: did not answer within 1.5 s" in said


@pytest.mark.slow
def test_http_servers_from_the_settings_file_get_their_headers(
    claw_env, http_notes_server, monkeypatch
):
    kind, url = http_notes_server
    ws = claw_env.workspace
    monkeypatch.setenv("CLAW_NB_TEST_TOKEN", "s3cret")
    (ws / ".claw").mkdir()
    (ws / ".claw" / "settings.toml").write_text(
        f'[mcp_servers.remote]\ntype = "{kind}"\nurl = "{url}"\n'
        'headers = { X-Notes-Token = "${CLAW_NB_TEST_TOKEN}" }\n'
    )
    assert main(["mcp", "approve", "remote", "--cwd", str(ws)]) == 0
    claw_env.server.queue(
        tool_calls(call("mcp__remote__lookup", {"key": "greeting"})),
        tool_calls(call("mcp__remote__header", {"name": "X-Notes-Token"})),
        text("done"),
    )
    assert run(ws) == 0
    assert last_tool_result(claw_env.server.requests[1]) == "hello from the notes server"
    assert last_tool_result(claw_env.server.requests[2]) == "X-Notes-Token: s3cret"


def test_mcp_list_read_and_prompt(claw_env, capfd):
    ws = claw_env.workspace
    write_mcp_json(ws, {"notes": notes_entry(), "broken": {"url": "ftp://x"}})
    assert main(["mcp", "list", "--cwd", str(ws)]) == 0
    listing = capfd.readouterr().out
    assert "notes  not approved  (.mcp.json)" in listing
    assert "approve: claw-nb mcp approve notes" in listing
    assert "broken  invalid  (.mcp.json): a http server needs an http(s) url" in listing
    assert main(["mcp", "approve", "notes", "--cwd", str(ws)]) == 0
    capfd.readouterr()
    assert main(["mcp", "--cwd", str(ws)]) == 0
    listing = capfd.readouterr().out
    assert "notes  ready  (.mcp.json)" in listing
    assert "resource notes://readme  readme" in listing
    assert main(["mcp", "read", "notes", "notes://readme", "--cwd", str(ws)]) == 0
    assert capfd.readouterr().out == "The notes server keeps notes by key.\n"
    assert main(["mcp", "prompt", "notes", "summarize", "topic=tea", "--cwd", str(ws)]) == 0
    assert capfd.readouterr().out == "user: Summarize what the notes say about tea.\n"
    assert main(["mcp", "read", "nowhere", "x://y", "--cwd", str(ws)]) == 1
    assert "no MCP server named nowhere; servers: notes, broken" in capfd.readouterr().err


@pytest.mark.parametrize(("typed", "answer"), [("y", "always"), ("o", "yes"), ("", "no")])
def test_the_terminal_shows_the_exact_command_before_asking(monkeypatch, capsys, typed, answer):
    monkeypatch.setattr("builtins.input", lambda prompt: typed)
    spec = ServerSpec("gh", ".mcp.json", command="npx", args=("-y", "server-github"))
    assert terminal_server_approver(spec) == answer
    out = capsys.readouterr().out
    assert "MCP server gh (from .mcp.json) would start:\n  npx -y server-github" in out


def test_control_characters_cannot_disguise_a_command_being_approved(claw_env, capfd):
    ws = claw_env.workspace
    # approving starts the server: its command must not exist, whatever the test shows
    disguised = "no-such-flag \r\x1b[2Kharmless-looking"
    write_mcp_json(ws, {"shown": {"command": "claw-nb-no-such-server", "args": [disguised]}})
    assert main(["mcp", "approve", "shown", "--cwd", str(ws)]) == 0
    out = capfd.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    assert "no-such-flag \\r\\e[2Kharmless-looking" in out
    assert "shown: failed: command not found: claw-nb-no-such-server" in out
