"""Parsing a reply (or a remembered tool result) for calls takes time linear in its length."""

from __future__ import annotations

from claw_nb.toolcalls import extract_text_tool_calls

KNOWN = {"read_file": {}, "write_file": {}}
GENEROUS = 60.0  # seconds: a regression fails instead of hanging; no timing assertion


def test_thousands_of_unclosed_brace_lines_do_not_stall_the_parser(time_limit):
    with time_limit(GENEROUS):  # 32 KB took 161 s before the budget
        content, calls = extract_text_tool_calls("{\n" * 16000, KNOWN)
    assert calls == [] and content.startswith("{")


def test_deeply_nested_brackets_do_not_stall_the_parser(time_limit):
    with time_limit(GENEROUS):
        _, calls = extract_text_tool_calls("[\n" * 8000 + "]\n" * 8000, KNOWN)
    assert calls == []


def test_a_bare_call_after_example_json_lines_is_still_found():
    text = (
        '{"id": 1, "tags": [1, 2]}\n' * 50
        + '{"name": "read_file", "arguments": {"path": "a.py"}}\n'
    )
    _, calls = extract_text_tool_calls(text, KNOWN)
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "a.py"})]
