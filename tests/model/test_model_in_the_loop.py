"""The model layer as the agent and the CLI use it: what gets logged, what gets imported."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from claw_nb import events as ev
from claw_nb.config import load_config
from claw_nb.testing import call, cut_stream, error, text, tool_calls
from tests.helpers import Recorder, unguarded_agent


def test_a_failed_call_is_logged_with_its_error(scripted_server, workspace, tmp_path):
    from claw_nb.log.store import EventLog, connect

    scripted_server.queue(tool_calls(call("list_files", {})), error(401, "bad key"))
    config = load_config(
        workspace, model="openai/scripted", api_base=scripted_server.url, api_key="k", stream=False
    )
    db = tmp_path / "claw.duckdb"
    recorder = Recorder()
    log = EventLog(db)
    result = unguarded_agent(config, listeners=[log, recorder]).run("list")
    log.close()
    assert result.stop_reason == "auth"
    calls = recorder.of(ev.ModelCallFinished)
    assert [c.error is None for c in calls] == [True, False]
    assert calls[1].prompt_tokens > 0 and calls[1].usage_source == "counted"
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT step, error FROM llm_calls ORDER BY step").fetchall()
    assert rows[0][1] is None
    assert rows[1][0] == 2 and "auth" in rows[1][1] and "bad key" in rows[1][1]


def test_a_failed_call_row_counts_every_request_it_made(scripted_server, workspace, tmp_path):
    from claw_nb.log.store import EventLog, connect

    # The stream breaks, the whole retry is refused: one row, two requests, the last not streamed.
    scripted_server.queue(
        cut_stream(""),
        error(400, "maximum context length is 4096 tokens", code="context_length_exceeded"),
    )
    config = load_config(
        workspace, model="openai/scripted", api_base=scripted_server.url, api_key="k", stream=True
    )
    db = tmp_path / "claw.duckdb"
    log = EventLog(db)
    agent = unguarded_agent(config, listeners=[log])
    agent.context_manager.recover = lambda *args: False  # no compaction retry: one failed call
    result = agent.run("list")
    log.close()
    assert result.stop_reason == "context_length_exceeded"
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT attempts, streamed, error FROM llm_calls").fetchall()
    assert len(rows) == 1 and rows[0][:2] == (2, False) and "context" in rows[0][2]
    assert len(scripted_server.requests) == 2


def test_the_printed_step_figure_is_the_logged_one(scripted_server, workspace):
    from claw_nb.cli.printer import TextPrinter

    scripted_server.queue(text("hello", usage=None))
    config = load_config(
        workspace, model="openai/scripted", api_base=scripted_server.url, api_key="k", stream=True
    )
    out = io.StringIO()
    recorder = Recorder()
    unguarded_agent(config, listeners=[TextPrinter(out), recorder]).run("hi")
    logged = recorder.of(ev.ModelCallFinished)[0]
    assert logged.usage_source == "counted" and logged.prompt_tokens > 1000  # schemas counted
    assert f"{logged.prompt_tokens} prompt" in out.getvalue()


def test_a_cli_run_on_the_direct_path_loads_no_heavy_library(claw_env):
    claw_env.server.queue(tool_calls(call("read_file", {"path": "f.txt"})), text("done"))
    (claw_env.workspace / "f.txt").write_text("x\n")
    code = (
        "import sys, json\n"
        "from claw_nb.cli import main\n"
        "rc = main(['run', '--mode', 'auto', '--yes', '--quiet', 'read f.txt'])\n"
        "heavy = [m for m in ('litellm', 'openai', 'pandas', 'tiktoken', 'pyarrow', 'httpx') "
        "if m in sys.modules]\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=claw_env.workspace,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}, out.stderr[-2000:]
