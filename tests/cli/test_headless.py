"""`claw-nb run --output-format json|stream-json`: the real CLI process, JSON on stdout only."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from claw_nb import events as ev
from claw_nb.cli import main
from claw_nb.cli.headless import JsonEventWriter, json_line
from claw_nb.log.store import connect
from claw_nb.testing import call, text, tool_calls
from tests.helpers import run_claw

ROOT = Path(__file__).resolve().parents[2]


def usage(prompt: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def run_cli(claw_env, *args: str, stdin=subprocess.DEVNULL, input: str | None = None):
    """(process, records): every stdout line must be one JSON object, or this fails."""
    proc = run_claw(
        claw_env.workspace,
        *args,
        **({"input": input} if input is not None else {"stdin": stdin}),
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.endswith("\n"), (proc.stdout, proc.stderr)
    records = [json.loads(line) for line in proc.stdout.split("\n")[:-1]]
    assert all(isinstance(record, dict) for record in records)
    return proc, records


def test_stream_json_goes_from_init_through_the_tool_call_to_the_result(claw_env):
    claw_env.server.queue(
        tool_calls(
            call("write_file", {"path": "a.txt", "content": "hi"}, id="call_w"),
            content="Writing it.",
            usage=usage(100, 10),
        ),
        text("All done.", usage=usage(150, 5)),
    )
    proc, records = run_cli(claw_env, "--output-format", "stream-json", "--yes", "write a.txt")
    assert proc.returncode == 0, proc.stderr
    assert [r["type"] for r in records] == [
        "system",
        "assistant",
        "tool_use",
        "tool_result",
        "assistant",
        "result",
    ]
    init, said, use, result_of_call, answer, result = records
    assert init["subtype"] == "init" and init["model"] == "openai/scripted"
    assert "write_file" in init["tools"] and init["workspace"] == str(claw_env.workspace)
    assert said == {**said, "text": "Writing it.", "step": 1}
    assert use == {
        **use,
        "id": "call_w",
        "name": "write_file",
        "input": {"path": "a.txt", "content": "hi"},
    }
    assert result_of_call["tool_use_id"] == use["id"] and result_of_call["ok"] is True
    assert "approved by --yes" in result_of_call["decision"]
    assert answer["text"] == "All done." and answer["step"] == 2
    assert result == {
        **result,
        "stop_reason": "completed",
        "ok": True,
        "final_answer": "All done.",
        "error": None,
        "steps": 2,
        "tool_calls": 1,
        "usage": {"prompt_tokens": 250, "completion_tokens": 15},
    }
    assert isinstance(result["duration_ms"], int) and result["duration_ms"] >= 0
    con = connect(claw_env.db, read_only=True)
    try:
        logged = con.execute("select session_id from sessions").fetchall()
    finally:
        con.close()
    assert {r["session_id"] for r in records} == {logged[0][0]}
    assert (claw_env.workspace / "a.txt").read_text() == "hi"


def test_stream_json_never_prompts_even_when_stdin_is_a_terminal(claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "f.txt", "content": "x"})), text("could not")
    )
    main_end, child_end = pty.openpty()
    try:
        os.write(main_end, b"y\n")  # what a prompt would read as "yes"
        proc, records = run_cli(
            claw_env, "--output-format", "stream-json", "write f", stdin=child_end
        )
    finally:
        os.close(main_end)
        os.close(child_end)
    assert proc.returncode == 0, proc.stderr
    (denied,) = [r for r in records if r["type"] == "tool_result"]
    assert denied["ok"] is False and denied["error_kind"] == "denied"
    assert "--yes" in denied["decision"]
    assert not (claw_env.workspace / "f.txt").exists()


def test_json_prints_one_result_object_for_a_task_read_from_stdin(claw_env):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("Nothing to fix."))
    proc, records = run_cli(claw_env, "--output-format", "json", "-", input="fix the bug\n")
    assert proc.returncode == 0, proc.stderr
    (result,) = records
    assert result["type"] == "result" and result["final_answer"] == "Nothing to fix."
    assert result["steps"] == 2 and result["tool_calls"] == 1
    users = [m for m in claw_env.server.requests[0]["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == ["fix the bug"]


def test_a_dead_model_server_is_a_result_with_the_error_and_exit_1(claw_env):
    url = claw_env.server.url
    claw_env.server.stop()
    proc, records = run_cli(claw_env, "--output-format", "stream-json", "hi")
    assert proc.returncode == 1
    assert records[0]["subtype"] == "init" and records[-1]["type"] == "result"
    fatal = [r for r in records if r["type"] == "error" and r["fatal"]]
    assert [r["kind"] for r in fatal] == ["model_unreachable"]
    result = records[-1]
    assert result["stop_reason"] == "model_unreachable" and result["ok"] is False
    assert url in result["error"] and result["final_answer"] is None
    assert proc.stderr.strip().splitlines()[-1].startswith("claw-nb: model_unreachable: ")


def test_max_steps_is_a_result_with_a_non_zero_exit(claw_env):
    claw_env.server.queue(*[tool_calls(call("list_files", {}))] * 2)
    proc, records = run_cli(claw_env, "--output-format", "json", "--max-steps", "2", "loop")
    assert proc.returncode == 1
    (result,) = records
    assert result["stop_reason"] == "max_steps" and result["steps"] == 2
    assert result["error"] == "stopped after max_steps=2 model calls"
    assert result["final_answer"] is None and result["tool_calls"] == 2
    assert proc.stderr.strip() == "claw-nb: max_steps: stopped after max_steps=2 model calls"


def test_a_dash_task_is_read_from_stdin_in_text_mode_too(claw_env, capsys, monkeypatch):
    claw_env.server.queue(text("read it"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("  a task\nover two lines\n"))
    assert main(["run", "--cwd", str(claw_env.workspace), "--quiet", "-"]) == 0
    assert capsys.readouterr().out == "read it\n"
    users = [m for m in claw_env.server.requests[0]["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == ["a task\nover two lines"]


def test_an_empty_task_on_stdin_is_a_usage_error(claw_env, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["run", "--cwd", str(claw_env.workspace), "--output-format", "json", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "claw-nb: the task is empty\n"
    assert claw_env.server.requests == []


def test_everything_else_written_to_stdout_goes_to_stderr():
    script = (
        "import os, subprocess, sys\n"
        "from claw_nb.cli.headless import json_stdout\n"
        "with json_stdout() as out:\n"
        "    print('by print')\n"
        "    os.write(1, b'by the fd\\n')\n"
        "    subprocess.run([sys.executable, '-c', 'print(\"by a child\")'], check=True)\n"
        "    out.write('{}\\n')\n"
        "print('after')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "{}\nafter\n"
    assert proc.stderr.splitlines() == ["by print", "by the fd", "by a child"]


def test_lines_escape_what_a_terminal_or_a_line_splitter_would_act_on():
    sneaky = "a\x9b2J b\u2028c \u202e d \ud800 é ✓"
    line = json_line({"text": sneaky})
    assert line.endswith("\n") and len(line.splitlines()) == 1
    assert not any(ch in line for ch in "\x9b\u2028\u202e\ud800")
    assert "é ✓" in line  # readable Unicode stays as it is
    line.encode("utf-8")  # no lone surrogate left to fail on
    assert json.loads(line) == {"text": sneaky}


def test_compaction_and_retries_are_lines_and_summary_tokens_count_in_usage():
    out = io.StringIO()
    writer = JsonEventWriter(out, stream=True)
    writer(ev.ErrorOccurred("s", kind="retry", message="attempt 1 failed (500); retrying"))
    writer(
        ev.ContextCompacted(
            "s",
            reason="threshold",
            method="summary",
            tokens_before=9000,
            tokens_after=2000,
            messages_before=40,
            messages_after=6,
            dropped="30 messages summarised",
            summary_prompt_tokens=8000,
            summary_completion_tokens=300,
            window=8192,
            step=7,
        )
    )
    writer(ev.SessionEnded("s", "interrupted", steps=7))
    retry, compaction, result = [json.loads(line) for line in out.getvalue().splitlines()]
    assert retry == {**retry, "type": "error", "kind": "retry", "fatal": False}
    assert compaction == {
        **compaction,
        "type": "system",
        "subtype": "compaction",
        "method": "summary",
        "tokens_before": 9000,
        "tokens_after": 2000,
        "step": 7,
    }
    assert result["usage"] == {"prompt_tokens": 8000, "completion_tokens": 300}
    assert result["stop_reason"] == "interrupted" and result["ok"] is False


def test_json_mode_writes_only_the_result():
    out = io.StringIO()
    writer = JsonEventWriter(out, stream=False)
    writer(
        ev.ToolCallStarted("s", step=1, call_id="c", tool="grep", arguments={}, raw_arguments="{}")
    )
    writer(ev.FinalAnswer("s", "the answer"))
    assert out.getvalue() == ""
    writer(ev.SessionEnded("s", "completed", steps=1))
    (result,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert result["final_answer"] == "the answer" and result["ok"] is True


def test_main_called_in_process_writes_json_to_the_replaced_stdout(claw_env, capsys):
    claw_env.server.queue(text("in process"))
    assert main(["run", "--cwd", str(claw_env.workspace), "--output-format", "json", "hi"]) == 0
    out = capsys.readouterr().out
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["final_answer"] == "in process" and sys.stdout is not sys.stderr
