"""Spec for claw_nb.toolcalls: turning whatever a local model emits into ToolCalls."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from claw_nb.toolcalls import (
    StreamingToolCallAccumulator,
    ToolCall,
    coerce_arguments,
    extract_text_tool_calls,
    from_native,
    parse_arguments,
    validate_arguments,
)

READ_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "offset": {"type": "integer"},
        "limit": {"type": "integer"},
    },
    "required": ["path"],
    "additionalProperties": False,
}


# --------------------------------------------------------------------------- module hygiene


def test_importing_the_module_pulls_in_neither_litellm_nor_jsonschema():
    code = (
        "import sys, claw_nb.toolcalls; "
        "print('litellm' in sys.modules, 'jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_toolcall_is_frozen():
    call = ToolCall("call_1", "read_file", "{}", {})
    with pytest.raises(AttributeError):
        call.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- parse_arguments


@pytest.mark.parametrize("raw", [None, "", "   ", "null"])
def test_empty_arguments_mean_no_arguments(raw):
    assert parse_arguments(raw) == ({}, None, False)


def test_dict_arguments_pass_through_unchanged():
    args = {"path": "a.py"}
    assert parse_arguments(args) == (args, None, False)


def test_valid_json_object_is_parsed_without_repair():
    assert parse_arguments('{"path": "a.py", "offset": 3}') == (
        {"path": "a.py", "offset": 3},
        None,
        False,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"path": "a.py",}', {"path": "a.py"}),
        ('{"items": [1, 2, 3,], }', {"items": [1, 2, 3]}),
        ('{"path": "a.py"', {"path": "a.py"}),
        ('{"opts": {"items": [1, 2', {"opts": {"items": [1, 2]}}),
        ('{"cmd": "ls -la', {"cmd": "ls -la"}),
        ('{"a": 1, "b": [2,', {"a": 1, "b": [2]}),
        ('```json\n{"path": "a.py"}\n```', {"path": "a.py"}),
        ('```\n{"path": "a.py"}\n```', {"path": "a.py"}),
        (
            '{"recursive": True, "hidden": False, "pattern": None}',
            {"recursive": True, "hidden": False, "pattern": None},
        ),
        ("{'path': 'a.py', 'offset': 2}", {"path": "a.py", "offset": 2}),
        ('{"code": "line one\nline two"}', {"code": "line one\nline two"}),
    ],
    ids=[
        "trailing-comma",
        "nested-trailing-commas",
        "missing-brace",
        "missing-brackets",
        "missing-closing-quote",
        "truncated-after-comma",
        "json-fence",
        "bare-fence",
        "python-literals",
        "single-quotes",
        "raw-newline-in-string",
    ],
)
def test_small_json_defects_are_repaired_and_flagged(raw, expected):
    args, error, repaired = parse_arguments(raw)
    assert (args, error, repaired) == (expected, None, True)


def test_python_literal_words_inside_strings_are_left_alone():
    args, error, _ = parse_arguments('{"note": "True story", "flag": True,}')
    assert error is None
    assert args == {"note": "True story", "flag": True}


def test_stray_or_mismatched_closers_are_dropped():
    assert parse_arguments('{"a": 1}}')[0] == {"a": 1}
    assert parse_arguments('{"a": [1}')[0] == {"a": [1]}


def test_absurdly_deep_nesting_is_an_error_not_a_crash():
    args, error, _ = parse_arguments("[" * 100_000)
    assert args is None and "nested too deeply" in error


def test_double_encoded_arguments_are_decoded_once_more():
    raw = json.dumps(json.dumps({"path": "a.py"}))
    assert parse_arguments(raw) == ({"path": "a.py"}, None, True)


def test_json_string_that_is_not_json_inside_is_an_error():
    args, error, _ = parse_arguments('"just some words"')
    assert args is None
    assert "must be a JSON object" in error and "string" in error


@pytest.mark.parametrize(
    ("raw", "kind"), [("[1, 2]", "array"), ("42", "integer"), ([1, 2], "array")]
)
def test_non_object_arguments_are_an_error_naming_what_was_sent(raw, kind):
    args, error, _ = parse_arguments(raw)
    assert args is None
    assert f"got {kind}" in error
    assert "JSON object" in error


def test_unparseable_arguments_explain_the_problem_and_the_valid_form():
    args, error, repaired = parse_arguments('{"path": "a.py" "offset": 3}')
    assert args is None and not repaired
    assert "Expecting ',' delimiter" in error
    assert "line 1 column 17" in error
    assert "double-quoted" in error and '{"path":' in error


def test_unescaped_quotes_cannot_be_repaired():
    args, error, _ = parse_arguments('{"code": "print("hi")"}')
    assert args is None
    assert "Could not parse the arguments as JSON" in error


# --------------------------------------------------------------------------- from_native


def test_native_tool_calls_become_toolcalls():
    calls = from_native(
        [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
            }
        ]
    )
    assert calls == [ToolCall("call_abc", "read_file", '{"path": "a.py"}', {"path": "a.py"})]


def test_native_calls_without_id_get_generated_ids():
    calls = from_native(
        [
            {"function": {"name": "ls", "arguments": "{}"}},
            {"id": "", "function": {"name": "ls", "arguments": "{}"}},
        ]
    )
    assert all(c.id.startswith("call_") and len(c.id) > 5 for c in calls)
    assert calls[0].id != calls[1].id


def test_native_calls_keep_raw_arguments_and_report_repairs():
    (call,) = from_native([{"id": "x", "function": {"name": "ls", "arguments": '{"a": 1,}'}}])
    assert call.raw_arguments == '{"a": 1,}'
    assert call.arguments == {"a": 1} and call.repaired


def test_native_calls_with_broken_arguments_carry_an_error():
    (call,) = from_native([{"id": "x", "function": {"name": "ls", "arguments": "{nope"}}])
    assert call.arguments is None and "Could not parse" in call.error


def test_native_calls_accept_dict_arguments_and_attribute_objects():
    obj = SimpleNamespace(id="c1", function=SimpleNamespace(name="ls", arguments={"a": 1}))
    (call,) = from_native([obj])
    assert call.name == "ls" and call.arguments == {"a": 1}
    assert json.loads(call.raw_arguments) == {"a": 1}


# --------------------------------------------------------------------------- Qwen3-Coder XML


def test_qwen3_coder_xml_call_is_extracted():
    text = (
        "<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/app.py\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == ""
    assert call.name == "read_file" and call.arguments == {"path": "src/app.py"}
    assert call.id.startswith("call_") and call.error is None


def test_xml_values_keep_code_with_angle_brackets_quotes_and_inner_newlines():
    code = 'if a < b and "x" != \'y\':\n    print("<done>")\n\n'
    text = (
        f"<tool_call>\n<function=write_file>\n<parameter=path>\nx.py\n</parameter>\n"
        f"<parameter=content>\n{code}\n</parameter>\n</function>\n</tool_call>"
    )
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"path": "x.py", "content": code}


def test_xml_values_lose_only_one_leading_and_one_trailing_newline():
    text = "<function=f><parameter=v>\n\n  indented\n\n</parameter></function>"
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"v": "\n  indented\n"}


def test_xml_values_that_are_json_non_strings_are_decoded():
    text = (
        "<function=f><parameter=n>5</parameter><parameter=b>true</parameter>"
        '<parameter=o>{"k": [1]}</parameter><parameter=s>"quoted"</parameter>'
        "<parameter=t>plain words</parameter></function>"
    )
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {
        "n": 5,
        "b": True,
        "o": {"k": [1]},
        "s": '"quoted"',
        "t": "plain words",
    }


def test_xml_raw_arguments_hold_the_values_exactly_as_written():
    _, (call,) = extract_text_tool_calls("<function=f><parameter=n>5</parameter></function>")
    assert json.loads(call.raw_arguments) == {"n": "5"}


def test_xml_values_stay_strings_when_known_tools_schema_says_string():
    tools = {
        "write_file": {
            "type": "function",
            "function": {
                "name": "write_file",
                "parameters": READ_SCHEMA
                | {
                    "properties": {
                        "content": {"type": "string"},
                        "offset": {"type": "integer"},
                    }
                },
            },
        }
    }
    text = (
        "<function=write_file><parameter=content>\n42\n</parameter>"
        "<parameter=offset>7</parameter></function>"
    )
    _, (call,) = extract_text_tool_calls(text, tools)
    assert call.arguments == {"content": "42", "offset": 7}


def test_xml_value_containing_a_closing_parameter_tag_is_kept_whole():
    text = (
        "<function=write_file><parameter=content>\nuse </parameter> to close\n</parameter>"
        "<parameter=path>a.md</parameter></function>"
    )
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"content": "use </parameter> to close", "path": "a.md"}


def test_xml_call_missing_closing_tool_call_at_end_is_accepted():
    text = (
        "Reading.\n<tool_call>\n<function=read_file>\n<parameter=path>a.py</parameter>\n</function>"
    )
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == "Reading."
    assert call.arguments == {"path": "a.py"}


def test_xml_call_missing_closing_function_and_tool_call_is_accepted():
    text = "<tool_call>\n<function=read_file>\n<parameter=path>a.py</parameter>\n"
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == "" and call.name == "read_file" and call.arguments == {"path": "a.py"}


def test_xml_call_cut_off_inside_a_value_keeps_what_was_written():
    _, (call,) = extract_text_tool_calls("<function=run><parameter=cmd>ls -la")
    assert call.arguments == {"cmd": "ls -la"}


def test_bare_function_block_without_tool_call_wrapper_is_extracted():
    text = "Let me look.\n<function=list_files>\n<parameter=path>.</parameter>\n</function>\nDone?"
    rest, (call,) = extract_text_tool_calls(text)
    assert call.name == "list_files" and call.arguments == {"path": "."}
    assert rest == "Let me look.\n\nDone?"


def test_function_without_parameters_has_empty_arguments():
    text = "<tool_call>\n<function=list_tools>\n</function>\n</tool_call>"
    _, (call,) = extract_text_tool_calls(text)
    assert call.name == "list_tools" and call.arguments == {}


def test_several_functions_inside_one_tool_call_are_all_extracted():
    text = (
        "<tool_call>\n<function=a>\n<parameter=x>1</parameter>\n</function>\n"
        "<function=b>\n</function>\n</tool_call>\nafter"
    )
    rest, calls = extract_text_tool_calls(text)
    assert [(c.name, c.arguments) for c in calls] == [("a", {"x": 1}), ("b", {})]
    assert rest == "after"


def test_function_tag_quoted_in_prose_is_not_a_call():
    text = "Qwen writes calls as `<function=name>` followed by parameters."
    assert extract_text_tool_calls(text) == (text, [])


def test_several_xml_calls_are_extracted_in_order_with_text_preserved():
    text = (
        "First I read both files.\n\n"
        "<tool_call>\n<function=read_file>\n<parameter=path>a.py</parameter>\n</function>\n"
        "</tool_call>\n<tool_call>\n<function=read_file>\n<parameter=path>b.py</parameter>\n"
        "</function>\n</tool_call>\n\nThen I will compare them."
    )
    rest, calls = extract_text_tool_calls(text)
    assert [c.arguments["path"] for c in calls] == ["a.py", "b.py"]
    assert rest == "First I read both files.\n\nThen I will compare them."
    assert len({c.id for c in calls}) == 2


# --------------------------------------------------------------------------- Hermes JSON


def test_hermes_json_call_is_extracted():
    text = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == "" and call.name == "read_file" and call.arguments == {"path": "a.py"}
    assert json.loads(call.raw_arguments) == {"path": "a.py"}


def test_hermes_arguments_may_be_a_json_string():
    text = '<tool_call>{"name": "ls", "arguments": "{\\"path\\": \\".\\"}"}</tool_call>'
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"path": "."} and call.raw_arguments == '{"path": "."}'


def test_hermes_parameters_key_is_accepted_for_arguments():
    text = '<tool_call>{"name": "ls", "parameters": {"a": 1}}</tool_call>'
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"a": 1}


def test_several_hermes_calls_with_text_around_them():
    text = (
        'Checking.\n<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>\nWaiting for results.'
    )
    rest, calls = extract_text_tool_calls(text)
    assert [c.name for c in calls] == ["a", "b"]
    assert rest == "Checking.\n\nWaiting for results."


def test_hermes_call_missing_closing_tag_at_end_is_accepted():
    text = 'Sure.\n<tool_call>\n{"name": "ls", "arguments": {"path": "."}}\n'
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == "Sure." and call.arguments == {"path": "."}


def test_hermes_calls_missing_closing_tags_between_calls_are_split():
    text = '<tool_call>{"name": "a", "arguments": {}}\n<tool_call>{"name": "b", "arguments": {}}'
    _, calls = extract_text_tool_calls(text)
    assert [c.name for c in calls] == ["a", "b"]


def test_hermes_block_with_small_json_defects_is_repaired():
    text = '<tool_call>{"name": "ls", "arguments": {"a": 1,}</tool_call>'
    _, (call,) = extract_text_tool_calls(text)
    assert call.arguments == {"a": 1} and call.repaired


def test_malformed_hermes_block_yields_a_call_with_name_and_error():
    text = '<tool_call>{"name": "write_file", "arguments": {"content": "say "hi""}}</tool_call>'
    rest, (call,) = extract_text_tool_calls(text)
    assert rest == ""
    assert call.name == "write_file" and call.arguments is None
    assert "<tool_call> block" in call.error and '"arguments"' in call.error


def test_malformed_hermes_block_without_a_name_has_empty_name():
    _, (call,) = extract_text_tool_calls("<tool_call>not json at all</tool_call>")
    assert call.name == "" and call.error


@pytest.mark.parametrize("tag", ["<tools>", "<tool_call>", "<function_call>"])
def test_a_wrapper_tag_named_in_prose_is_not_a_call(tag):
    # SmolLM2-135M, asked to run the tests, answered in prose that mentions the tag.
    text = f"This tells pytest to test all the functions listed above in {tag} XML tags.\nDone."
    assert extract_text_tool_calls(text, {"ls"}) == (text, [])


def test_an_unterminated_wrapper_holding_json_is_still_a_call():
    _, (call,) = extract_text_tool_calls('<tools>\n{"name": "ls", "arguments": {"p": 1}')
    assert call.name == "ls" and call.arguments == {"p": 1}


def test_a_wrapper_cut_off_right_after_the_tag_is_an_error():
    _, (call,) = extract_text_tool_calls("Let me look.\n<tool_call>")
    assert call.error and "empty" in call.error


def test_hermes_block_without_name_key_is_an_error():
    _, (call,) = extract_text_tool_calls('<tool_call>{"tool": "ls"}</tool_call>')
    assert call.arguments is None and '"name"' in call.error


def test_empty_tool_call_block_is_an_error_showing_the_valid_form():
    _, (call,) = extract_text_tool_calls("<tool_call></tool_call>")
    assert call.name == "" and "empty" in call.error and '"arguments"' in call.error


def test_hermes_body_wrapped_in_a_code_fence_is_accepted():
    text = '<tool_call>\n```json\n{"name": "ls", "arguments": {"p": 1}}\n```\n</tool_call>'
    _, (call,) = extract_text_tool_calls(text)
    assert call.name == "ls" and call.arguments == {"p": 1}


# --------------------------------------------------------------------------- fenced JSON


def test_fenced_json_call_is_extracted():
    text = 'I will list files.\n```json\n{"name": "ls", "arguments": {"path": "."}}\n```'
    rest, (call,) = extract_text_tool_calls(text, {"ls"})
    assert rest == "I will list files." and call.arguments == {"path": "."}


def test_bare_fence_and_parameters_key_are_accepted():
    _, (call,) = extract_text_tool_calls('```\n{"name": "ls", "parameters": {"a": 1}}\n```')
    assert call.name == "ls" and call.arguments == {"a": 1}


def test_fence_with_a_list_of_calls_yields_each_call():
    text = '```json\n[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 2}}]\n```'
    _, calls = extract_text_tool_calls(text, ["a", "b"])
    assert [(c.name, c.arguments) for c in calls] == [("a", {}), ("b", {"x": 2})]


def test_fence_in_openai_function_shape_is_accepted():
    text = '```json\n{"type": "function", "function": {"name": "ls", "arguments": "{}"}}\n```'
    _, (call,) = extract_text_tool_calls(text)
    assert call.name == "ls" and call.arguments == {}


def test_fenced_json_naming_an_unknown_tool_is_left_as_text():
    text = 'Example payload:\n```json\n{"name": "Alice", "arguments": {"age": 3}}\n```'
    assert extract_text_tool_calls(text, {"ls", "read_file"}) == (text, [])


def test_fenced_json_without_arguments_key_is_not_a_call():
    text = '```json\n{"name": "ls"}\n```'
    assert extract_text_tool_calls(text) == (text, [])


def test_a_json_call_in_a_fence_of_another_language_is_parsed():
    text = '```bash\n{"name": "ls", "arguments": {}}\n```'
    content, calls = extract_text_tool_calls(text)
    assert content == "" and [(c.name, c.arguments, c.dialect) for c in calls] == [
        ("ls", {}, "fenced_json")
    ]


def test_code_in_a_fence_that_is_not_json_is_ignored():
    text = '```python\nprint({"name": "ls", "arguments": {}})\n```'
    assert extract_text_tool_calls(text) == (text, [])


def test_fence_inside_an_xml_value_is_part_of_the_value():
    content = '```json\n{"name": "ls", "arguments": {}}\n```'
    text = f"<function=write_file><parameter=content>\n{content}\n</parameter></function>"
    _, calls = extract_text_tool_calls(text)
    assert len(calls) == 1 and calls[0].arguments == {"content": content}


# --------------------------------------------------------------------------- thinking, plain text


def test_plain_text_has_no_calls_and_is_returned_unchanged():
    assert extract_text_tool_calls("Just an answer.") == ("Just an answer.", [])
    assert extract_text_tool_calls("") == ("", [])


def test_calls_inside_think_blocks_are_not_extracted_and_thinking_stays():
    text = (
        '<think>Maybe <tool_call>{"name": "rm", "arguments": {}}</tool_call>? No.</think>\n'
        '<tool_call>{"name": "ls", "arguments": {}}</tool_call>'
    )
    rest, calls = extract_text_tool_calls(text)
    assert [c.name for c in calls] == ["ls"]
    assert rest.startswith("<think>Maybe <tool_call>") and rest.endswith("No.</think>")


def test_calls_before_an_orphan_closing_think_tag_count_as_thinking():
    text = (
        "I could call <function=rm><parameter=p>/</parameter></function> but no.</think>\n"
        "<function=ls></function>"
    )
    _, calls = extract_text_tool_calls(text)
    assert [c.name for c in calls] == ["ls"]


def test_unclosed_think_block_hides_everything_after_it():
    text = '<think>planning <tool_call>{"name": "ls", "arguments": {}}</tool_call>'
    assert extract_text_tool_calls(text) == (text, [])


def test_fenced_json_inside_think_is_not_extracted():
    text = '<think>\n```json\n{"name": "ls", "arguments": {}}\n```\n</think>Answer.'
    assert extract_text_tool_calls(text) == (text, [])


def test_inline_call_leaves_the_sentence_joined_by_a_space():
    text = 'Run <tool_call>{"name": "ls", "arguments": {}}</tool_call> now.'
    rest, _ = extract_text_tool_calls(text)
    assert rest == "Run now."


# --------------------------------------------------------------------------- coercion


def test_coercion_converts_numeric_and_boolean_strings():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "x": {"type": "number"}, "b": {"type": "boolean"}},
    }
    assert coerce_arguments(schema, {"n": "5", "x": "2.5", "b": "True"}) == {
        "n": 5,
        "x": 2.5,
        "b": True,
    }


def test_coercion_decodes_json_strings_for_array_and_object_params():
    schema = {
        "type": "object",
        "properties": {
            "paths": {"type": "array", "items": {"type": "integer"}},
            "opts": {"type": "object"},
        },
    }
    out = coerce_arguments(schema, {"paths": '["1", 2]', "opts": '{"a": 1}'})
    assert out == {"paths": [1, 2], "opts": {"a": 1}}


def test_coercion_turns_scalars_into_strings_for_string_params():
    schema = {"type": "object", "properties": {"content": {"type": "string"}}}
    assert coerce_arguments(schema, {"content": 42}) == {"content": "42"}


def test_coercion_leaves_unconvertible_and_unknown_values_and_does_not_mutate():
    args = {"offset": "abc", "extra": "5", "path": "a.py"}
    assert coerce_arguments(READ_SCHEMA, args) == args
    out = coerce_arguments(READ_SCHEMA, {"offset": "3"})
    assert out == {"offset": 3}


def test_coercion_respects_union_types():
    schema = {
        "type": "object",
        "properties": {"v": {"type": ["integer", "null"]}, "s": {"type": ["string", "integer"]}},
    }
    assert coerce_arguments(schema, {"v": "7", "s": "7"}) == {"v": 7, "s": "7"}


def test_coercion_turns_integral_floats_into_integers():
    assert coerce_arguments(READ_SCHEMA, {"offset": 5.0}) == {"offset": 5}


# --------------------------------------------------------------------------- validation


def test_valid_arguments_return_none():
    assert validate_arguments(READ_SCHEMA, {"path": "a.py", "offset": 2}) is None


def test_string_numbers_for_integer_params_are_not_an_error():
    assert validate_arguments(READ_SCHEMA, {"path": "a.py", "offset": "10"}) is None


def test_validation_lists_every_problem_in_one_message():
    error = validate_arguments(READ_SCHEMA, {"offset": "abc", "colour": "red", "mode": 1})
    assert "missing required argument 'path'" in error
    assert "unknown argument 'colour'" in error and "unknown argument 'mode'" in error
    assert "'offset' must be integer, got string \"abc\"" in error


def test_validation_message_shows_the_expected_parameters():
    error = validate_arguments(READ_SCHEMA, {})
    assert "path (string, required)" in error and "offset (integer)" in error


def test_validation_reports_enum_and_nested_paths():
    schema = {
        "type": "object",
        "properties": {
            "mode": {"enum": ["r", "w"]},
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"line": {"type": "integer"}},
                    "required": ["line"],
                },
            },
        },
    }
    error = validate_arguments(schema, {"mode": "x", "edits": [{"line": [1]}, {}]})
    assert '\'mode\' must be one of "r", "w"; got "x"' in error
    assert "'edits[0].line' must be integer, got array [1]" in error
    assert "missing required field 'line' in 'edits[1]'" in error


def test_validation_of_non_object_arguments_is_an_error():
    assert "JSON object" in validate_arguments(READ_SCHEMA, ["a.py"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- streaming


def _delta(index=None, id=None, name=None, arguments=None, as_object=False):
    fn = {"name": name, "arguments": arguments}
    delta = {"index": index, "id": id, "function": fn}
    if as_object:
        return SimpleNamespace(index=index, id=id, type=None, function=SimpleNamespace(**fn))
    return delta


def test_streamed_deltas_are_merged_into_one_call():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "call_1", "read_file", "")])
    acc.add([_delta(0, None, None, '{"path": ')])
    acc.add([_delta(0, None, None, '"a.py"}')])
    assert acc.finish() == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
        }
    ]


def test_interleaved_indices_are_kept_apart_and_returned_in_index_order():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(1, "c2", "b", '{"y"'), _delta(0, "c1", "a", '{"x"')])
    acc.add([_delta(0, arguments=": 1}")])
    acc.add([_delta(1, arguments=": 2}")])
    out = acc.finish()
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in out] == [
        ("c1", "a", '{"x": 1}'),
        ("c2", "b", '{"y": 2}'),
    ]


def test_attribute_style_deltas_from_litellm_are_supported():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "c1", "ls", '{"a"', as_object=True)])
    acc.add([_delta(0, None, None, ": 1}", as_object=True)])
    assert acc.finish()[0]["function"] == {"name": "ls", "arguments": '{"a": 1}'}


def test_missing_index_new_id_starts_a_call_and_no_id_continues_the_last():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(id="c1", name="a", arguments="{")])
    acc.add([_delta(arguments="}")])
    acc.add([_delta(id="c2", name="b", arguments='{"k"')])
    acc.add([_delta(arguments=": 0}")])
    out = acc.finish()
    assert [(c["id"], c["function"]["arguments"]) for c in out] == [
        ("c1", "{}"),
        ("c2", '{"k": 0}'),
    ]


def test_repeated_id_without_index_continues_the_same_call():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(id="c1", name="a", arguments='{"k": ')])
    acc.add([_delta(id="c1", arguments="1}")])
    assert len(acc.finish()) == 1


def test_repeated_full_name_in_every_chunk_is_not_concatenated():
    acc = StreamingToolCallAccumulator()
    for part in ['{"a"', ": ", "1}"]:
        acc.add([_delta(0, "c1", "read_file", part)])
    assert acc.finish()[0]["function"] == {"name": "read_file", "arguments": '{"a": 1}'}


def test_name_streamed_in_fragments_is_joined():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "c1", "read_", "")])
    acc.add([_delta(0, None, "file", "{}")])
    assert acc.finish()[0]["function"]["name"] == "read_file"


def test_distinct_ids_reusing_index_zero_become_separate_calls():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "c1", "a", "{}")])
    acc.add([_delta(0, "c2", "b", "{}")])
    assert [c["function"]["name"] for c in acc.finish()] == ["a", "b"]


def test_complete_arguments_repeated_in_a_chunk_are_not_duplicated():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "c1", "a", '{"x": 1}')])
    acc.add([_delta(0, None, None, '{"x": 1}')])
    assert acc.finish()[0]["function"]["arguments"] == '{"x": 1}'


def test_missing_ids_are_generated_once_and_stay_stable():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, None, "ls", "{}")])
    first = acc.finish()
    assert first[0]["id"].startswith("call_") and acc.finish() == first


def test_none_and_single_deltas_are_accepted():
    acc = StreamingToolCallAccumulator()
    acc.add(None)
    acc.add(_delta(0, "c1", "ls", "{}"))
    assert [c["id"] for c in acc.finish()] == ["c1"]


def test_accumulated_calls_feed_from_native():
    acc = StreamingToolCallAccumulator()
    acc.add([_delta(0, "c1", "ls", '{"path": "."')])
    (call,) = from_native(acc.finish())
    assert call.arguments == {"path": "."} and call.repaired


def test_two_streamed_calls_sharing_an_id_at_different_indexes_stay_two_calls():
    acc = StreamingToolCallAccumulator()
    acc.add([{"index": 0, "id": "call_1", "function": {"name": "read_file", "arguments": ""}}])
    acc.add([{"index": 0, "function": {"arguments": '{"path": "a.py"}'}}])
    acc.add([{"index": 1, "id": "call_1", "function": {"name": "read_file", "arguments": ""}}])
    acc.add([{"index": 1, "function": {"arguments": '{"path": "b.py"}'}}])
    calls = acc.finish()
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("read_file", '{"path": "a.py"}'),
        ("read_file", '{"path": "b.py"}'),
    ]
    assert len({c["id"] for c in calls}) == 2 and calls[0]["id"] == "call_1"


def test_a_flattened_call_naming_a_known_tool_is_run_with_the_other_keys_as_arguments():
    text = '{"name": "write_file", "type": "function", "path": "a.py", "content": "x"}'
    rest, (call,) = extract_text_tool_calls(text, {"write_file"})
    assert rest == "" and call.arguments == {"path": "a.py", "content": "x"}


def test_a_flattened_object_whose_name_is_not_a_tool_stays_text():
    text = '```json\n{"name": "my-app", "version": "1.0.0"}\n```'
    assert extract_text_tool_calls(text, {"write_file"}) == (text, [])


def test_llama_cpp_functions_prefix_calls():
    """`functions.NAME:` + JSON (llama-cpp-python's chatml-function-calling text)."""
    known = {"read_file": {}, "list_files": {}}
    text, calls = extract_text_tool_calls("functions.read_file: {'path': 'a'}", known)
    assert (text, calls[0].name, calls[0].arguments, calls[0].error) == (
        "",
        "read_file",
        {"path": "a"},
        None,
    )
    # a known name followed by prose is not run with no arguments
    text, calls = extract_text_tool_calls("functions.list_files: now let me look\nthen", known)
    assert text == "then" and calls[0].arguments is None and "JSON object" in calls[0].error
    # the reply ended inside the arguments: an error, never a repaired (truncated) call
    _, calls = extract_text_tool_calls('functions.read_file:\n{"path": "no', known)
    assert calls[0].arguments is None and "cut off inside" in calls[0].error
    # an unknown name with JSON is an attempt (answered with the real tools); with prose, text
    _, calls = extract_text_tool_calls('functions.rm_rf:\n{"path": "/"}', known)
    assert calls[0].name == "rm_rf"
    assert extract_text_tool_calls("functions.summary: fine", known) == (
        "functions.summary: fine",
        [],
    )
