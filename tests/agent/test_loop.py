"""The agent loop end to end through the real LiteLLM path, against the scripted server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from claw_nb import events as ev
from claw_nb.config import load_config
from claw_nb.protocols import Authorization
from claw_nb.testing import call, cut_stream, error, text, tool_calls
from tests.helpers import recorded_agent, scripted_config, unguarded_agent

STREAMING = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


def make_agent(server, workspace, stream=False, **options):
    config = scripted_config(server, workspace, stream=stream, retry_base_delay=0.01, **options)
    return recorded_agent(config)


def tool_results(agent):
    return [m["content"] for m in agent.messages if m["role"] == "tool"]


@STREAMING
def test_native_tool_call_runs_and_result_goes_back(scripted_server, workspace, stream):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "hello.py", "content": "print('hi')\n"})),
        text("Wrote hello.py."),
    )
    agent, rec = make_agent(scripted_server, workspace, stream)
    result = agent.run("create hello.py")
    assert result.stop_reason == "completed"
    assert result.final_answer == "Wrote hello.py."
    assert (workspace / "hello.py").read_text() == "print('hi')\n"
    second = scripted_server.requests[1]["messages"]
    assert second[-1]["role"] == "tool" and "hello.py" in second[-1]["content"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "write_file"
    finished = rec.of(ev.ToolCallFinished)
    assert len(finished) == 1 and finished[0].ok


@STREAMING
def test_qwen3_coder_xml_call_in_text_is_run(scripted_server, workspace, stream):
    (workspace / "notes.txt").write_text("alpha\nbeta\n")
    scripted_server.queue(
        text(
            "Let me look.\n<tool_call>\n<function=read_file>\n<parameter=path>\nnotes.txt\n"
            "</parameter>\n<parameter=limit>\n1\n</parameter>\n</function>\n</tool_call>"
        ),
        text("The first line is alpha."),
    )
    agent, rec = make_agent(scripted_server, workspace, stream)
    result = agent.run("what is the first line of notes.txt?")
    assert result.ok
    assert "alpha" in tool_results(agent)[0] and "beta" not in tool_results(agent)[0]
    shown = "".join(e.text for e in rec.of(ev.TextDelta))
    assert "Let me look." in shown and "<tool_call>" not in shown and "<function" not in shown


@STREAMING
def test_hermes_json_call_in_text_is_run(scripted_server, workspace, stream):
    scripted_server.queue(
        text(
            '<tool_call>\n{"name": "write_file", "arguments": {"path": "a.txt", "content": "A"}}\n'
            "</tool_call>"
        ),
        text("done"),
    )
    agent, _ = make_agent(scripted_server, workspace, stream)
    assert agent.run("write a.txt").ok
    assert (workspace / "a.txt").read_text() == "A"


@STREAMING
def test_fenced_json_call_is_run(scripted_server, workspace, stream):
    scripted_server.queue(
        text('I will list the files.\n```json\n{"name": "list_files", "arguments": {}}\n```'),
        text("There are no files."),
    )
    agent, _ = make_agent(scripted_server, workspace, stream)
    assert agent.run("list files").ok
    assert len(tool_results(agent)) == 1


def test_trailing_comma_in_arguments_is_repaired(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("write_file", '{"path": "r.txt", "content": "ok",}')),
        text("done"),
    )
    agent, rec = make_agent(scripted_server, workspace)
    assert agent.run("write r.txt").ok
    assert (workspace / "r.txt").read_text() == "ok"


@STREAMING
def test_malformed_arguments_go_back_to_the_model_as_an_error(scripted_server, workspace, stream):
    scripted_server.queue(
        tool_calls(call("write_file", '{"path": "x.txt", "content": ')),
        tool_calls(call("write_file", {"path": "x.txt", "content": "fixed"})),
        text("done"),
    )
    agent, rec = make_agent(scripted_server, workspace, stream)
    assert agent.run("write x.txt").ok
    first = rec.of(ev.ToolCallFinished)[0]
    assert not first.ok and first.error_kind == "malformed_json"
    assert tool_results(agent)[0].startswith("Error:")
    assert (workspace / "x.txt").read_text() == "fixed"


def test_unknown_tool_is_reported_with_the_available_tools(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("delete_everything", {})), text("sorry"))
    agent, rec = make_agent(scripted_server, workspace)
    assert agent.run("go").ok
    finished = rec.of(ev.ToolCallFinished)[0]
    assert finished.error_kind == "unknown_tool"
    assert "delete_everything" in tool_results(agent)[0] and "read_file" in tool_results(agent)[0]


def test_arguments_failing_the_schema_are_reported(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("read_file", {"offset": 3})), text("ok"))
    agent, rec = make_agent(scripted_server, workspace)
    assert agent.run("go").ok
    assert rec.of(ev.ToolCallFinished)[0].error_kind == "schema"
    assert "path" in tool_results(agent)[0]


def test_string_numbers_are_coerced_not_rejected(scripted_server, workspace):
    (workspace / "f.txt").write_text("1\n2\n3\n")
    scripted_server.queue(
        tool_calls(call("read_file", {"path": "f.txt", "offset": "2"})), text("ok")
    )
    agent, rec = make_agent(scripted_server, workspace)
    agent.run("go")
    assert rec.of(ev.ToolCallFinished)[0].ok
    assert "1\t1" not in tool_results(agent)[0] and "2\t2" in tool_results(agent)[0]


def test_a_tool_that_fails_is_reported_and_the_loop_goes_on(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("edit_file", {"path": "missing.py", "old_string": "a", "new_string": "b"})),
        text("the file does not exist"),
    )
    agent, rec = make_agent(scripted_server, workspace)
    assert agent.run("edit").ok
    assert rec.of(ev.ToolCallFinished)[0].error_kind == "tool_error"


def test_several_calls_in_one_reply_run_in_order(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(
            call("write_file", {"path": "o.txt", "content": "one"}),
            call("edit_file", {"path": "o.txt", "old_string": "one", "new_string": "two"}),
            call("read_file", {"path": "o.txt"}),
        ),
        text("done"),
    )
    agent, _ = make_agent(scripted_server, workspace)
    agent.run("go")
    results = tool_results(agent)
    assert len(results) == 3 and "two" in results[2]


def test_http_500_then_success_is_retried(scripted_server, workspace):
    scripted_server.queue(error(500), error(503), text("fine"))
    agent, rec = make_agent(scripted_server, workspace)
    result = agent.run("hi")
    assert result.ok and result.final_answer == "fine"
    assert rec.of(ev.ModelCallFinished)[0].attempts == 3
    assert len(scripted_server.requests) == 3


def test_429_honours_retry_after(scripted_server, workspace):
    scripted_server.queue(error(429, headers={"Retry-After": "0"}), text("ok"))
    agent, rec = make_agent(scripted_server, workspace)
    assert agent.run("hi").ok
    assert [e for e in rec.of(ev.ErrorOccurred) if e.kind == "retry"]


def test_stream_cut_midway_is_retried(scripted_server, workspace):
    scripted_server.queue(cut_stream("partial ans"), text("whole answer"))
    agent, _ = make_agent(scripted_server, workspace, stream=True)
    result = agent.run("hi")
    assert result.ok and result.final_answer == "whole answer"


def test_persistent_500_ends_the_run_with_the_reason(scripted_server, workspace):
    scripted_server.queue(*[error(500)] * 3)
    agent, rec = make_agent(scripted_server, workspace, max_retries=2)
    result = agent.run("hi")
    assert result.stop_reason == "model_error"
    assert "3 attempts" in result.error
    assert rec.of(ev.SessionEnded)[0].stop_reason == "model_error"


def test_context_length_error_is_reported_clearly(scripted_server, workspace):
    scripted_server.queue(
        error(
            400,
            message="This model's maximum context length is 4096 tokens. However, you "
            "requested 9000 tokens.",
            code="context_length_exceeded",
        )
    )
    agent, _ = make_agent(scripted_server, workspace)
    result = agent.run("hi")
    assert result.stop_reason == "context_length_exceeded"
    assert "context window" in result.error


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_names_the_url_and_how_to_start_one(workspace):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    config = load_config(
        workspace, model="openai/x", api_base=url, api_key="k", retry_base_delay=0.01
    )
    result = unguarded_agent(config).run("hi")
    assert result.stop_reason == "model_unreachable"
    assert url in result.error and "ollama serve" in result.error


def test_max_steps_stops_the_loop(scripted_server, workspace):
    scripted_server.queue(*[tool_calls(call("list_files", {}))] * 3)
    agent, rec = make_agent(scripted_server, workspace, max_steps=2)
    result = agent.run("loop forever")
    assert result.stop_reason == "max_steps" and result.steps == 2
    assert len(scripted_server.requests) == 2


def test_interrupt_stops_at_the_next_safe_point(scripted_server, workspace):
    agent, rec = make_agent(scripted_server, workspace)

    def stop_when_the_reply_is_in(event):
        if isinstance(event, ev.ModelCallFinished):
            agent.interrupt()

    agent.subscribe(stop_when_the_reply_is_in)
    scripted_server.queue(tool_calls(call("list_files", {}), call("list_files", {})))
    result = agent.run("go")
    assert result.stop_reason == "interrupted"
    # Both calls got a result, so the history stays valid for the next run.
    assert len(tool_results(agent)) == 2
    assert all("stopped" in r for r in tool_results(agent))


def test_interrupt_while_the_model_answers_ends_the_call_at_once(scripted_server, workspace):
    """The reply the server was preparing never comes: the request is closed, the history
    ends with the task (nothing dangling), the failed call is logged as interrupted."""
    agent, rec = make_agent(scripted_server, workspace)

    def stop_before_the_reply(request):
        agent.interrupt()
        return tool_calls(call("list_files", {}))

    scripted_server.queue(stop_before_the_reply)
    result = agent.run("go")
    assert result.stop_reason == "interrupted"
    assert agent.messages[-1]["role"] == "user" and tool_results(agent) == []
    (failed,) = rec.of(ev.ModelCallFinished)
    assert failed.error.startswith("interrupted: stopped by the user")


def test_usage_is_counted_when_the_server_reports_none(scripted_server, workspace):
    scripted_server.queue(text("hello there", usage=None))
    agent, rec = make_agent(scripted_server, workspace)
    agent.run("hi")
    call_event = rec.of(ev.ModelCallFinished)[0]
    assert call_event.usage_source == "counted"
    assert call_event.prompt_tokens > 100 and call_event.completion_tokens > 0


@STREAMING
def test_usage_from_the_server_is_recorded_with_timings(scripted_server, workspace, stream):
    scripted_server.queue(
        text("hi", usage={"prompt_tokens": 1234, "completion_tokens": 5, "total_tokens": 1239})
    )
    agent, rec = make_agent(scripted_server, workspace, stream)
    agent.run("hi")
    call_event = rec.of(ev.ModelCallFinished)[0]
    assert (call_event.prompt_tokens, call_event.completion_tokens) == (1234, 5)
    assert call_event.latency_ms > 0
    if stream:
        assert call_event.ttft_ms is not None and call_event.ttft_ms <= call_event.latency_ms


def test_system_prompt_has_workspace_tools_and_project_memory(scripted_server, workspace):
    (workspace / "AGENTS.md").write_text("Always use tabs.")
    scripted_server.queue(text("ok"))
    agent, _ = make_agent(scripted_server, workspace)
    agent.run("hi")
    system = scripted_server.requests[0]["messages"][0]
    assert system["role"] == "system"
    assert str(workspace) in system["content"] and "Always use tabs." in system["content"]
    # The schemas carry the tool list; the default prompt does not repeat it ("full" does).
    assert "`edit_file(path, old_string, new_string, replace_all?)`" not in system["content"]
    names = [t["function"]["name"] for t in scripted_server.requests[0]["tools"]]
    assert names == [
        "read_file",
        "write_file",
        "edit_file",
        "list_files",
        "grep",
        "run_command",
        "todo_write",
        "read_output",  # context management's, there from the first call (a stable prefix)
    ]


def test_second_run_continues_the_conversation(scripted_server, workspace):
    scripted_server.queue(text("first"), text("second"))
    agent, _ = make_agent(scripted_server, workspace)
    agent.run("one")
    agent.run("two")
    roles = [m["role"] for m in scripted_server.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_denied_call_goes_back_to_the_model_with_the_reason(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("run_command", {"command": "rm -rf /"})), text("ok"))
    agent, rec = make_agent(scripted_server, workspace)
    agent.authorize = lambda tool, args: Authorization(False, "denied by rule run_command(rm*)")
    agent.run("clean up")
    finished = rec.of(ev.ToolCallFinished)[0]
    assert finished.error_kind == "denied" and finished.decision.startswith("denied by rule")
    assert "permission denied" in tool_results(agent)[0]


def test_todo_write_emits_the_task_list(scripted_server, workspace):
    todos = [
        {"content": "read code", "status": "completed"},
        {"content": "fix bug", "status": "in_progress"},
    ]
    scripted_server.queue(tool_calls(call("todo_write", {"todos": todos})), text("ok"))
    agent, rec = make_agent(scripted_server, workspace)
    agent.run("plan")
    assert [t["content"] for t in rec.of(ev.TodosUpdated)[0].todos] == ["read code", "fix bug"]


def test_a_failing_listener_does_not_stop_the_agent(scripted_server, workspace):
    scripted_server.queue(text("ok"))
    agent, _ = make_agent(scripted_server, workspace)

    def broken(event):
        raise RuntimeError("boom")

    agent.subscribe(broken)
    with pytest.warns(UserWarning, match="listener"):
        assert agent.run("hi").ok


def test_agent_fixes_a_failing_test(scripted_server, workspace):
    """The walking skeleton: read, run the failing test, edit, rerun, answer."""
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workspace / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    check = "python -c \"import calc; assert calc.add(2, 3) == 5; print('passed')\""
    scripted_server.queue(
        tool_calls(call("read_file", {"path": "calc.py"})),
        tool_calls(call("run_command", {"command": check})),
        tool_calls(
            call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})
        ),
        tool_calls(call("run_command", {"command": check})),
        text("Fixed `add`: it subtracted instead of adding. The check passes now."),
    )
    agent, rec = make_agent(scripted_server, workspace, stream=True)
    result = agent.run("the test for add fails; fix it")
    assert result.ok
    results = tool_results(agent)
    assert "AssertionError" in results[1] and "passed" in results[3]
    assert "a + b" in (workspace / "calc.py").read_text()


def test_stop_during_a_streamed_reply_ends_the_run_promptly(scripted_server, workspace):
    agent, rec = make_agent(scripted_server, workspace, stream=True)
    seen = threading.Event()

    def stop_on_first_text(event):
        if isinstance(event, ev.TextDelta) and not seen.is_set():
            seen.set()
            agent.interrupt()

    agent.subscribe(stop_on_first_text)
    scripted_server.queue(text("word " * 400))
    result = agent.run("talk a lot")
    assert result.stop_reason == "interrupted"
    assert len(rec.of(ev.TextDelta)) < 10  # did not read the whole stream
    assert not rec.of(ev.ErrorOccurred)


def test_interrupt_kills_a_running_command(scripted_server, workspace):
    """A stop (the notebook's Stop button, Ctrl-C) does not wait for the command to end: the
    command is killed and the run ends interrupted, its result saying so."""
    agent, rec = make_agent(scripted_server, workspace)
    started = workspace / "started"

    def stop_once_started() -> None:
        end = time.monotonic() + 30
        while not started.exists() and time.monotonic() < end:
            time.sleep(0.01)
        agent.interrupt()

    scripted_server.queue(tool_calls(call("run_command", {"command": "touch started; sleep 60"})))
    threading.Thread(target=stop_once_started, daemon=True).start()
    begin = time.monotonic()
    result = agent.run("wait a minute")
    assert result.stop_reason == "interrupted"
    assert time.monotonic() - begin < 20
    assert (
        "stopped by the user: the command and its processes were killed" in tool_results(agent)[0]
    )
