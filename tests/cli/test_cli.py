"""`claw-nb` end to end: the real CLI, the real LiteLLM path, the scripted server, DuckDB rows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from claw_nb.cli import main
from claw_nb.log.store import connect
from claw_nb.testing import call, error, text, tool_calls


def rows(db, sql):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_run_prints_the_work_and_logs_every_table(claw_env, capsys):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "a.py", "content": "x = 1\n"})),
        tool_calls(call("read_file", '{"path": "a.py"')),  # missing brace: repaired
        tool_calls(call("no_such_tool", {})),
        text("All done."),
    )
    code = main(["run", "--cwd", str(claw_env.workspace), "--mode", "accept-edits", "make a.py"])
    out = capsys.readouterr().out
    assert code == 0
    assert "-> write_file" in out and "All done." in out
    assert (claw_env.workspace / "a.py").read_text() == "x = 1\n"

    db = claw_env.db
    ((session_id, stop, model, task, sha),) = rows(
        db, "select session_id, stop_reason, model, task, system_prompt_sha from sessions"
    )
    assert (stop, model, task) == ("completed", "openai/scripted", "make a.py")
    assert rows(db, f"select count(*) from prompts where sha = '{sha}'") == [(1,)]
    roles = [r for (r,) in rows(db, "select role from messages order by seq")]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    calls = rows(db, "select step, tool, ok, error_kind, decision from tool_calls order by step")
    assert calls[0][:3] == (1, "write_file", True) and "accept-edits" in calls[0][4]
    assert calls[1][:3] == (2, "read_file", True)
    assert calls[2][1:4] == ("no_such_tool", False, "unknown_tool")
    llm = rows(
        db,
        "select step, prompt_tokens > 0, latency_ms > 0, finish_reason from llm_calls "
        "order by step",
    )
    assert [r[0] for r in llm] == [1, 2, 3, 4] and all(r[1] and r[2] for r in llm)


def test_stream_flag_streams_and_logs_time_to_first_token(claw_env, capsys):
    claw_env.server.queue(text("streamed answer"))
    assert main(["run", "--cwd", str(claw_env.workspace), "--stream", "hi"]) == 0
    assert "streamed answer" in capsys.readouterr().out
    assert claw_env.server.requests[0]["stream"] is True
    ((ttft,),) = rows(claw_env.db, "select ttft_ms from llm_calls")
    assert ttft is not None and ttft > 0


def test_non_interactive_run_denies_actions_without_yes(claw_env, capsys):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "f.txt", "content": "x"})), text("could not write")
    )
    assert main(["run", "--cwd", str(claw_env.workspace), "--no-stream", "write f"]) == 0
    assert not (claw_env.workspace / "f.txt").exists()
    ((kind, decision),) = rows(claw_env.db, "select error_kind, decision from tool_calls")
    assert kind == "denied" and "--yes" in decision
    assert "--yes" in claw_env.server.requests[1]["messages"][-1]["content"]


def test_yes_approves_what_would_ask(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "f.txt", "content": "x"})), text("wrote it")
    )
    assert main(["run", "--cwd", str(claw_env.workspace), "--yes", "write f"]) == 0
    assert (claw_env.workspace / "f.txt").read_text() == "x"
    ((decision,),) = rows(claw_env.db, "select decision from tool_calls")
    assert "approved by --yes" in decision


def test_max_steps_exits_non_zero_with_one_line(claw_env, capsys):
    claw_env.server.queue(*[tool_calls(call("list_files", {}))] * 2)
    code = main(["run", "--cwd", str(claw_env.workspace), "--max-steps", "2", "loop"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["claw-nb: max_steps: stopped after max_steps=2 model calls"]
    assert rows(claw_env.db, "select stop_reason from sessions") == [("max_steps",)]


def test_server_down_is_one_line_naming_the_url(claw_env, capsys, monkeypatch):
    url = claw_env.server.url
    claw_env.server.stop()
    code = main(["run", "--cwd", str(claw_env.workspace), "hi"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert url in err[0] and "ollama serve" in err[0]


def test_bad_option_value_is_a_one_line_usage_error(claw_env, capsys):
    assert main(["run", "--cwd", str(claw_env.workspace), "--max-steps", "0", "x"]) == 2
    assert capsys.readouterr().err.strip() == (
        "claw-nb: setting 'max_steps' must be a positive integer, got 0"
    )


def test_sessions_lists_and_show_replays(claw_env, capsys):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("nothing here"))
    main(["run", "--cwd", str(claw_env.workspace), "look around"])
    capsys.readouterr()
    assert main(["sessions", "--cwd", str(claw_env.workspace)]) == 0
    listing = capsys.readouterr().out
    assert "look around" in listing and "completed" in listing
    ((session_id,),) = rows(claw_env.db, "select session_id from sessions")
    assert main(["show", session_id]) == 0
    replay = capsys.readouterr().out
    assert "[user]\nlook around" in replay and "-> list_files" in replay
    assert "nothing here" in replay
    assert main(["show", "nope"]) == 1


def test_show_and_stats_take_a_session_id_prefix_like_resume(claw_env, capsys):
    claw_env.server.queue(text("first answer"))
    main(["run", "--cwd", str(claw_env.workspace), "first"])
    ((session_id,),) = rows(claw_env.db, "select session_id from sessions")
    capsys.readouterr()
    assert main(["show", session_id[:4]]) == 0
    assert "first answer" in capsys.readouterr().out
    assert main(["stats", "--session", session_id[:4]]) == 0
    out = capsys.readouterr().out
    assert "(no rows)" not in out and session_id in out


def test_retries_are_visible_and_counted(claw_env, capsys):
    claw_env.server.queue(error(500), text("ok"))
    assert main(["run", "--cwd", str(claw_env.workspace), "hi"]) == 0
    assert "retrying" in capsys.readouterr().out
    assert rows(claw_env.db, "select attempts from llm_calls") == [(2,)]


@pytest.mark.slow
def test_console_script_runs_as_a_real_process(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "p.txt", "content": "real"})), text("process done")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "claw_nb.cli",
            "run",
            "--yes",
            "--cwd",
            str(claw_env.workspace),
            "write p.txt",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "process done" in proc.stdout
    assert "Traceback" not in proc.stderr and "LiteLLM" not in proc.stderr
    assert (claw_env.workspace / "p.txt").read_text() == "real"
    assert rows(claw_env.db, "select count(*) from tool_calls") == [(1,)]  # ingested on read


def test_unparseable_option_is_one_line(claw_env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--max-steps", "x", "task"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "claw-nb run: argument --max-steps: invalid int value: 'x' (see claw-nb run --help)"
    ]


def test_quiet_prints_only_the_final_answer_once(claw_env, capsys):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("the answer"))
    assert main(["run", "--cwd", str(claw_env.workspace), "--quiet", "q"]) == 0
    assert capsys.readouterr().out == "the answer\n"


def test_resume_continues_a_logged_session_from_the_cli(claw_env, capsys):
    claw_env.server.queue(text("noted: blue"), text("your colour is blue"))
    assert main(["run", "--cwd", str(claw_env.workspace), "my colour is blue"]) == 0
    (first,) = rows(claw_env.db, "select session_id from sessions")
    assert (
        main(
            [
                "run",
                "--cwd",
                str(claw_env.workspace),
                "--resume",
                first[0][:6],
                "what is my colour?",
            ]
        )
        == 0
    )
    users = [m["content"] for m in claw_env.server.requests[1]["messages"] if m["role"] == "user"]
    assert users == ["my colour is blue", "what is my colour?"]
    parents = rows(claw_env.db, "select resumed_from from sessions where resumed_from is not null")
    assert parents == [(first[0],)]


def test_resume_of_an_unknown_session_is_one_line(claw_env, capsys):
    assert main(["run", "--cwd", str(claw_env.workspace), "--resume", "nope", "x"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"claw-nb: no session 'nope' in {claw_env.db}; `claw-nb sessions` lists them"
    )
