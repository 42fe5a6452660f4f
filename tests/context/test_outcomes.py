"""Tool results are data: pruning and the file ledger decide by a call's recorded outcome, not
by the text it returned (a file whose text starts with "Error" is still a successful read)."""

from __future__ import annotations

import json

import claw_nb
from claw_nb.context.file_ledger import FileLedger
from claw_nb.context.outputs import OutputStore
from claw_nb.context.prune import prune
from claw_nb.outcomes import ErrorKind, StopReason, ToolOutcome
from claw_nb.testing import call, text, tool_calls

ERROR_LOOKING_FILE = "Error: codes and their meaning\n" + "E1 bad input\n" * 40


def _call(call_id: str, name: str, **args) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def _result(call_id: str, content: str) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _history() -> list[dict]:
    return [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        _call("r1", "read_file", path="errors.md"),
        _result("r1", ERROR_LOOKING_FILE),
        _call("e1", "notebook_edit", path="errors.md"),
        _result("e1", "Edited cell 1"),
    ]


def test_a_read_whose_text_starts_with_error_is_pruned_as_a_read():
    messages = _history()
    outcomes = {
        "r1": ToolOutcome(True, ERROR_LOOKING_FILE, kind="read"),
        "e1": ToolOutcome(True, "Edited cell 1", kind="edit"),
    }
    report = prune(
        messages,
        len(messages),
        OutputStore(),
        shorten_chars=10_000,
        keep_chars=500,
        outcomes=outcomes,
    )
    assert report.stubbed == ["read_file(errors.md)"]
    assert "the file changed since" in messages[3]["content"]


def test_the_ledger_takes_the_tools_kind_not_its_name():
    ledger = FileLedger("/ws")
    messages = [_result("r1", ERROR_LOOKING_FILE), _result("e1", "Edited cell 1")]
    calls = {"r1": ("read_file", {"path": "a.md"}), "e1": ("notebook_edit", {"path": "b.ipynb"})}
    outcomes = {
        "r1": ToolOutcome(True, ERROR_LOOKING_FILE, kind="read"),
        "e1": ToolOutcome(True, "Edited", kind="edit"),
    }
    ledger.note(messages, calls, outcomes)
    assert ledger.text() == "- b.ipynb: edited\n- only read: a.md"
    failed = FileLedger("/ws")
    failed.note(
        [_result("w1", "Wrote 1 line")],
        {"w1": ("write_file", {"path": "c.py"})},
        {"w1": ToolOutcome.failure(ErrorKind.DENIED, "permission denied", kind="edit")},
    )
    assert failed.text() == ""


def test_a_run_records_each_calls_outcome_and_a_typed_stop_reason(scripted_server, workspace):
    (workspace / "errors.md").write_text(ERROR_LOOKING_FILE)
    scripted_server.queue(
        tool_calls(call("read_file", {"path": "errors.md"})),
        tool_calls(call("read_file", {"path": "missing.md"})),
        text("done"),
    )
    options = {"model": "openai/scripted", "api_base": scripted_server.url, "api_key": "x"}
    with claw_nb.create_agent(workspace, log=False, **options) as agent:
        result = agent.run("read")
        outcomes = list(agent.context_manager.outcomes.values())
    assert result.stop_reason is StopReason.COMPLETED and result.stop_reason == "completed"
    assert [(o.ok, o.error_kind, o.kind) for o in outcomes] == [
        (True, None, "read"),
        (False, ErrorKind.TOOL_ERROR, "read"),
    ]


def test_a_resumed_agent_knows_its_earlier_outcomes_from_the_log(
    scripted_server, workspace, tmp_path
):
    (workspace / "errors.md").write_text(ERROR_LOOKING_FILE)
    db = tmp_path / "log.duckdb"
    scripted_server.queue(tool_calls(call("read_file", {"path": "errors.md"})), text("read it"))
    options = {"model": "openai/scripted", "api_base": scripted_server.url, "api_key": "x"}
    with claw_nb.create_agent(workspace, db_path=db, **options) as agent:
        agent.run("read")
        first = dict(agent.context_manager.outcomes)
        session = agent.session_id
    resumed = claw_nb.resume(session, workspace, db_path=db, **options)
    try:
        loaded = resumed.context_manager.outcomes
        assert set(loaded) == set(first)
        assert all(o.ok and o.kind == "read" for o in loaded.values())
    finally:
        resumed.close()
