"""Replies as real small models write them (tests/toolcalls/corpus): every call-shaped reply is
either run or sent back as an error; replies that are answers stay answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claw_nb.toolcalls import extract_text_tool_calls

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.json"))


def _case(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_corpus_is_there():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_reply(path):
    case = _case(path)
    _, calls = extract_text_tool_calls(case["reply"], set(case["tools"]))
    good = [{"name": c.name, "arguments": c.arguments} for c in calls if c.error is None]
    broken = [c for c in calls if c.error is not None]
    assert good == case["expect_calls"]
    assert len(broken) == len(case["expect_errors"])
    for call, expected in zip(broken, case["expect_errors"]):
        assert call.name == expected["name"]
        assert expected["error_contains"] in call.error
        assert "tool_call" in call.error  # says how to write a call


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_a_call_shaped_reply_is_never_a_final_answer(path):
    case = _case(path)
    call_shaped = bool(case["expect_calls"] or case["expect_errors"])
    _, calls = extract_text_tool_calls(case["reply"], set(case["tools"]))
    assert bool(calls) == call_shaped
