"""Tools described in the prompt: requests rewritten for templates that know only text."""

from __future__ import annotations

import json

from claw_nb.toolcalls import extract_text_tool_calls
from claw_nb.toolcalls.in_prompt import PromptedTools

SPECS = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "read_file", "arguments": '{"path": "a \\"b\\".txt"}'},
}
MESSAGES = [
    {"role": "system", "content": "You are claw."},
    {"role": "user", "content": "read it"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "name": "read_file", "content": "one"},
    {"role": "tool", "tool_call_id": "c2", "name": "read_file", "content": "two"},
]


def test_every_message_becomes_role_and_text():
    plain = PromptedTools().messages(MESSAGES, SPECS)
    assert [m["role"] for m in plain] == ["system", "user", "assistant", "user"]
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in plain)
    assert '"name": "read_file"' in plain[0]["content"] and "<tool_call>" in plain[0]["content"]


def test_results_are_kept_whole_in_one_message():
    results = PromptedTools().messages(MESSAGES, SPECS)[-1]["content"]
    assert results.count("<tool_response") == 2 and "one" in results and "two" in results


def test_an_earlier_call_is_written_in_a_dialect_the_parser_reads_back():
    text = PromptedTools().messages(MESSAGES, SPECS)[2]["content"]
    assert '"a \\"b\\".txt"' in text and "&#34;" not in text
    _prose, calls = extract_text_tool_calls(text, {"read_file": {}})
    assert [(c.name, c.arguments) for c in calls] == [
        ("read_file", json.loads(CALL["function"]["arguments"]))
    ]


def test_unchanged_messages_are_rewritten_once():
    prompted = PromptedTools()
    first, second = prompted.messages(MESSAGES, SPECS), prompted.messages(MESSAGES, SPECS)
    assert all(a is b for a, b in zip(first, second))


def test_without_tools_the_system_message_is_left_as_is():
    assert PromptedTools().messages(MESSAGES[:2], [])[0]["content"] == "You are claw."


def test_results_end_with_what_to_do_next():
    """Without this line SmolLM2-135M wrote `<tool_response>` text itself (docs/models.md)."""
    from claw_nb.toolcalls.in_prompt import AFTER_MANY, AFTER_RESULTS

    assert PromptedTools().messages(MESSAGES, SPECS)[-1]["content"].endswith(AFTER_MANY)
    one = PromptedTools().messages(MESSAGES[:4], SPECS)[-1]["content"]
    assert one.endswith("</tool_response>\n\n" + AFTER_RESULTS)


def test_qwen_xml_dialect_writes_calls_the_parser_reads_back():
    from claw_nb.toolcalls.in_prompt import XML_CALL_FORMAT

    arguments = {"path": "a.py", "content": 'print("hi")\nx = 1\n', "count": 3}
    native = {"function": {"name": "write_file", "arguments": json.dumps(arguments)}}
    plain = PromptedTools("qwen_xml").messages(
        [
            {"role": "system", "content": "You are claw."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", **native}]},
        ],
        SPECS,
    )
    assert XML_CALL_FORMAT in plain[0]["content"]
    assert "<function=write_file>" in plain[1]["content"]
    _text, calls = extract_text_tool_calls(plain[1]["content"], {"write_file": {}})
    assert calls[0].name == "write_file" and calls[0].arguments == arguments
