"""run_command and the plain runner: exit codes, output capture, caps and timeouts."""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from claw_nb.sandbox import CappedBuffer, CommandResult, PlainRunner, run_capped
from claw_nb.tools import ToolContext, ToolError
from claw_nb.tools.base import ToolTimeout
from claw_nb.tools.command import cap_text, format_result, run_command


def run(ctx: ToolContext, **kwargs) -> str:
    return run_command.run(ctx, kwargs)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies awaiting their reaper count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_run_command_schema_requires_command_and_has_integer_timeout():
    p = run_command.parameters
    assert p["required"] == ["command"]
    assert p["properties"]["timeout"]["type"] == "integer"
    assert "default" not in p["properties"]["timeout"]  # the session's command_timeout applies
    assert run_command.kind == "command"


def test_run_command_reports_exit_code_zero_and_stdout(ctx):
    assert run(ctx, command="echo hello") == "exit code: 0\nstdout:\nhello\n"


def test_run_command_reports_nonzero_exit_code_and_stderr(ctx):
    out = run(ctx, command="echo out; echo oops >&2; exit 3")
    assert out == "exit code: 3\nstdout:\nout\n\nstderr:\noops\n"


def test_run_command_without_output_says_so(ctx):
    assert run(ctx, command="true") == "exit code: 0\n(no output)"


def test_run_command_runs_in_the_workspace(ctx, ws):
    assert run(ctx, command="pwd -P").splitlines()[2] == str(ws)


def test_run_command_closes_stdin(ctx):
    start = time.monotonic()
    out = run(ctx, command="cat; echo done", timeout=10)
    assert "done" in out and time.monotonic() - start < 5


def test_run_command_empty_command_is_an_error(ctx):
    with pytest.raises(ToolError, match="empty"):
        run(ctx, command="  ")


def test_run_command_non_positive_timeout_is_an_error(ctx):
    with pytest.raises(ToolError, match="timeout"):
        run(ctx, command="true", timeout=0)


def test_run_command_caps_timeout_at_600(ctx):
    class Recorder:
        name = "rec"
        timeout = None

        def run(self, command, cwd, timeout, stop=None):
            self.timeout = timeout
            return CommandResult(0, "", "", False, 1.0, 0, 0)

    ctx.runner = Recorder()
    out = run(ctx, command="true", timeout=5000)
    assert ctx.runner.timeout == 600 and "maximum" in out


def test_run_command_timeout_is_reported_and_kills_children(ctx):
    start = time.monotonic()
    with pytest.raises(ToolError) as info:
        run(ctx, command="sleep 100 & echo $!; sleep 100", timeout=1)
    elapsed = time.monotonic() - start
    assert elapsed < 5
    assert isinstance(info.value, ToolTimeout)  # the agent classifies it as a timeout
    out = str(info.value)
    assert "timed out after 1 s" in out
    child = int(out.split("stdout:\n", 1)[1].split()[0])
    assert wait_gone([child])


def test_runner_timeout_result_has_flag_and_partial_output(tmp_path):
    res = PlainRunner().run("echo started; sleep 30", tmp_path, 0.5)
    assert res.timed_out and res.stdout == "started\n"
    assert res.duration_ms < 4000


def test_runner_kills_process_group_that_ignores_sigterm(tmp_path):
    start = time.monotonic()
    res = PlainRunner().run("trap '' TERM; sleep 30 & echo $!; wait", tmp_path, 0.5)
    assert res.timed_out and time.monotonic() - start < 5
    assert wait_gone([int(res.stdout.split()[0])])


def test_runner_stops_background_processes_left_running(tmp_path):
    start = time.monotonic()
    res = PlainRunner().run("sleep 100 & echo $!", tmp_path, 30)
    assert not res.timed_out and res.exit_code == 0
    assert time.monotonic() - start < 5
    assert wait_gone([int(res.stdout.split()[0])])


def test_runner_decodes_invalid_utf8_with_replacement(tmp_path):
    res = PlainRunner().run(r"printf 'a\377b'", tmp_path, 10)
    assert res.stdout == "a\ufffdb" and res.stdout_bytes == 3


def test_run_capped_runs_an_argv_directly(tmp_path):
    res = run_capped([sys.executable, "-c", "import sys; sys.exit(7)"], tmp_path, 30)
    assert res.exit_code == 7 and not res.timed_out


def test_runner_caps_5mb_output_in_memory(tmp_path):
    tracemalloc.start()
    try:
        res = PlainRunner().run("head -c 5000000 /dev/zero | tr '\\0' a", tmp_path, 60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.exit_code == 0 and res.stdout_bytes == 5_000_000
    assert len(res.stdout) < 2 * 1024 * 1024 + 100
    assert "bytes omitted" in res.stdout
    assert peak < 12 * 1024 * 1024


def test_run_command_caps_5mb_output_to_about_30000_chars(ctx):
    out = run(ctx, command="head -c 5000000 /dev/zero | tr '\\0' a; echo END")
    assert len(out) < 30_500
    assert out.rstrip().endswith("END")
    omitted = int(out.split("... [", 1)[1].split(" bytes omitted", 1)[0])
    kept = out.count("a")
    assert omitted + kept == 5_000_000  # the count covers what the runner already dropped


def test_capped_buffer_keeps_head_and_tail_and_counts_bytes():
    buf = CappedBuffer(head=4, tail=4)
    for chunk in (b"0123", b"4567", b"89ab", b"cdef"):
        buf.feed(chunk)
    assert buf.total == 16
    assert buf.text() == "0123\n... [8 bytes omitted] ...\ncdef"


def test_capped_buffer_without_overflow_is_exact():
    buf = CappedBuffer(head=4, tail=4)
    buf.feed(b"0123456")
    assert buf.text() == "0123456"


def test_cap_text_keeps_head_and_tail():
    text = "H" * 100 + "M" * 1000 + "T" * 100
    out = cap_text(text, 200)
    assert out.startswith("H" * 80) and out.endswith("T" * 100)
    assert "[1000 bytes omitted]" in out


def test_format_result_gives_stderr_a_share_when_stdout_is_huge():
    res = CommandResult(1, "o" * 100_000, "error: boom\n", False, 1.0, 100_000, 12)
    out = format_result(res, 120)
    assert out.startswith("exit code: 1\n") and out.endswith("stderr:\nerror: boom\n")
    assert len(out) < 30_500


def test_the_command_timeout_setting_is_the_default_timeout(tmp_path):
    from claw_nb.sandbox import PlainRunner
    from claw_nb.tools.base import ToolContext, ToolTimeout
    from claw_nb.tools.command import run_command

    ctx = ToolContext(workspace=tmp_path, runner=PlainRunner(), command_timeout=1.0)
    with pytest.raises(ToolTimeout, match="timed out after 1 s"):
        run_command.run(ctx, {"command": "sleep 5"})


def test_colour_codes_never_reach_the_model(ctx):
    out = run_command.run(ctx, {"command": "printf '\\033[32mPASSED\\033[0m\\n'"})
    assert "PASSED" in out and "\x1b" not in out
