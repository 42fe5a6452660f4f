"""Each shape from the corpus, end to end: the scripted server sends the reply as text, the agent
runs the call (or sends the error back), and the model's next turn sees the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claw_nb import events as ev
from claw_nb.testing import text
from tests.helpers import recorded_agent, scripted_config

CORPUS = Path(__file__).parent / "corpus"
RUNS = [
    "bare_object",
    "doubled_braces",
    "tools_wrapper",
    "function_call_wrapper",
    "bash_fence_json",
    "fenced_with_comment",
    "mistral_marker",
    "prose_then_call",
    "qwen25_arguments_as_json_string",
    "qwen25_doubled_braces_all",
    "qwen25_two_bare_calls",
    "qwen25_fenced_invalid_escape",
    "llama32_parameters_key",
    "llama31_type_function",
    "llama_python_literals",
    "smollm2_tool_call_list",
    "smollm2_bare_list",
    "trailing_comma_true_none",
    "flattened_call_fenced",
    "flattened_call_bare",
]
ERRORS = {
    "fenced_unknown_tool": "unknown_tool",
    "fenced_unparsable": "malformed_json",
    "bare_unparsable": "malformed_json",
}


def _agent(server, workspace):
    return recorded_agent(scripted_config(server, workspace, retry_base_delay=0.01))


def _reply(name: str) -> str:
    return json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))["reply"]


@pytest.mark.parametrize("shape", RUNS)
def test_a_call_written_as_text_runs(shape, scripted_server, workspace):
    for path in (
        "hello.py",
        "app.py",
        "calc.py",
        "README.md",
        "src/x",
        "a.py",
        "b.py",
        "setup.py",
        "notes.txt",
    ):
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).write_text("def main():\n    return a - b\n")
    scripted_server.queue(text(_reply(shape)), text("done"))
    agent, events = _agent(scripted_server, workspace)
    result = agent.run("do it")
    assert result.stop_reason == "completed" and result.final_answer == "done"
    finished = events.of(ev.ToolCallFinished)
    assert finished and all(e.ok for e in finished), [e.error for e in finished]
    tool_turns = [m for m in scripted_server.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tool_turns) == len(finished)


@pytest.mark.parametrize("shape, kind", sorted(ERRORS.items()))
def test_a_broken_call_goes_back_as_an_error_the_model_can_fix(
    shape, kind, scripted_server, workspace
):
    scripted_server.queue(text(_reply(shape)), text("sorry, fixed"))
    agent, events = _agent(scripted_server, workspace)
    result = agent.run("do it")
    assert result.final_answer == "sorry, fixed"  # the broken reply was not the answer
    (finished,) = events.of(ev.ToolCallFinished)
    assert not finished.ok and finished.error_kind == kind
    (tool_turn,) = [m for m in scripted_server.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_turn["content"].startswith("Error:")
    if kind == "unknown_tool":
        assert "write_file" in tool_turn["content"]  # names the real tools


def test_one_good_and_one_broken_block_run_the_good_one_and_report_the_other(
    scripted_server, workspace
):
    scripted_server.queue(text(_reply("qwen25_one_good_one_broken_block")), text("retrying"))
    agent, events = _agent(scripted_server, workspace)
    assert agent.run("do it").final_answer == "retrying"
    first, second = events.of(ev.ToolCallFinished)
    assert first.ok and (workspace / "a.txt").read_text() == "A"
    assert not second.ok and second.error_kind == "malformed_json"


def test_a_real_prose_answer_naming_a_tag_stays_the_final_answer(scripted_server, workspace):
    reply = _reply("captured_smollm2-135m-instruct_task3_run0")
    scripted_server.queue(text(reply))
    agent, events = _agent(scripted_server, workspace)
    result = agent.run("run the tests")
    assert result.stop_reason == "completed" and "<tools> XML tags" in result.final_answer
    assert events.of(ev.ToolCallStarted) == [] and len(scripted_server.requests) == 1


def test_the_log_says_how_each_call_arrived(scripted_server, workspace, tmp_path):
    import duckdb

    from claw_nb.api import build_agent
    from claw_nb.testing import call, tool_calls

    (workspace / "hello.py").write_text("x = 1\n")
    db = tmp_path / "log.duckdb"
    scripted_server.queue(
        tool_calls(call("list_files", {})), text(_reply("bare_object")), text("done")
    )
    config = scripted_config(scripted_server, workspace, db_path=db)
    agent, log = build_agent(config, mode="auto")
    with agent:
        agent.run("go")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT tool, dialect FROM tool_calls ORDER BY created_at").fetchall()
    assert rows == [("list_files", "native"), ("write_file", "bare_json")]
