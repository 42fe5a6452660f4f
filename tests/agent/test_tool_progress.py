"""The agent passes tool-call progress on as `ToolCallProgress` events: before the call's
`ToolCallStarted`, for the live views only (the DuckDB log keeps exactly what it kept before)."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

from claw_nb import events as ev
from claw_nb.config import load_config
from claw_nb.testing import ScriptedModel, call, text, tool_calls
from tests.helpers import Recorder, scripted_config, unguarded_agent

CONTENT = "0123456789abcdef\n" * 1200  # ~20 kB: ~3,400 argument chunks from the server


def config_for(server, workspace, stream=True):
    return scripted_config(server, workspace, stream=stream)


def big_write(server):
    server.queue(
        tool_calls(call("write_file", {"path": "big.txt", "content": CONTENT})), text("Written.")
    )


def test_progress_events_arrive_before_the_call_starts(scripted_server, workspace):
    big_write(scripted_server)
    recorder = Recorder()
    agent = unguarded_agent(config_for(scripted_server, workspace), listeners=[recorder])
    assert agent.run("write big.txt").ok
    assert (workspace / "big.txt").read_text() == CONTENT
    progress = recorder.of(ev.ToolCallProgress)
    started = recorder.index(recorder.of(ev.ToolCallStarted)[0])
    assert progress and all(recorder.index(p) < started for p in progress)
    assert {(p.session_id, p.step, p.index, p.tool) for p in progress} == {
        (agent.session_id, 1, 0, "write_file")
    }
    sizes = [p.chars for p in progress]
    assert sizes == sorted(sizes) and sizes[0] == 0 and sizes[-1] >= 16 * 1024
    assert len(progress) < 50  # throttled: not one event per streamed chunk


def test_a_model_written_before_progress_existed_still_works(workspace):
    class OldModel:
        """A `Model` whose complete() has no on_tool_progress parameter."""

        def __init__(self) -> None:
            self.inner = ScriptedModel([tool_calls(call("list_files", {})), text("done")])
            self.name = self.inner.name

        def complete(self, messages, tools, on_text=None, on_retry=None, known_tools=None,
                     should_stop=None):  # fmt: skip
            return self.inner.complete(messages, tools, on_text, on_retry, known_tools)

    recorder = Recorder()
    config = load_config(workspace, model="scripted/old")
    result = unguarded_agent(config, model=OldModel(), listeners=[recorder]).run("list")
    assert result.ok and recorder.of(ev.ToolCallStarted)
    assert recorder.of(ev.ToolCallProgress) == []


def test_the_scripted_model_drives_progress_events_too(workspace):
    model = ScriptedModel([tool_calls(call("write_file", {"path": "a", "content": "y" * 4000}))])
    model.queue(text("ok"))
    recorder = Recorder()
    config = load_config(workspace, model="scripted/x")
    assert unguarded_agent(config, model=model, listeners=[recorder]).run("write a").ok
    progress = recorder.of(ev.ToolCallProgress)
    assert progress[0].tool == "write_file" and progress[-1].chars >= 2048


def _tables(db) -> dict[str, list[tuple]]:
    from claw_nb.log.analysis.parquet_export import BOOKKEEPING
    from claw_nb.log.store import connect

    with connect(db, read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY table_name"
            ).fetchall()
        ]
        return {
            name: sorted(con.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
            for name in names
            if name not in BOOKKEEPING
        }


def test_a_run_with_progress_events_logs_exactly_the_same_rows(
    scripted_server, workspace, tmp_path, monkeypatch
):
    from claw_nb.log.store import EventLog

    big_write(scripted_server)
    recorder = Recorder()
    assert unguarded_agent(config_for(scripted_server, workspace), listeners=[recorder]).run("w").ok
    assert recorder.of(ev.ToolCallProgress)
    # The same events into two databases, once with the progress events and once without; the
    # journal's clock (each row's created_at) ticks the same way for both.
    base = time.time()
    with_progress, without = tmp_path / "with.duckdb", tmp_path / "without.duckdb"
    for db, events in (
        (with_progress, list(recorder)),
        (without, [e for e in recorder if not isinstance(e, ev.ToolCallProgress)]),
    ):
        ticks = itertools.count()
        clock = SimpleNamespace(time=lambda ticks=ticks: base + next(ticks) / 1000)
        monkeypatch.setattr("claw_nb.log.journal.time", clock)
        log = EventLog(db)
        for event in events:
            log(event)
        log.close()
    tables = _tables(with_progress)
    assert tables["llm_calls"] and tables["tool_calls"] and tables["messages"]
    assert tables == _tables(without)
