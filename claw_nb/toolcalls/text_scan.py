"""Scanning reply text for calls: the pieces every text dialect shares."""

from __future__ import annotations

from dataclasses import replace

from claw_nb.toolcalls.arguments import ToolCall

# How a call should be written, quoted in every error about a malformed one.
CALL_SHAPE = '<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>'

# (start, end, calls) for each stretch of text that held calls
Found = list[tuple[int, int, list[ToolCall]]]


def skip_ws(text: str, pos: int, limit: int) -> int:
    """The first non-space position at or after `pos` (or `limit`)."""
    while pos < limit and text[pos].isspace():
        pos += 1
    return pos


def labelled(calls: list[ToolCall], dialect: str) -> list[ToolCall]:
    """`calls` marked with the dialect they were written in (logged with each call)."""
    return [replace(call, dialect=dialect) for call in calls]


def json_extent(text: str, start: int, limit: int) -> int:
    """Where the JSON value opening at `start` ends (brackets balanced outside strings), or
    `limit` when it never closes (output cut off)."""
    return json_span(text, start, limit)[0]


def json_span(text: str, start: int, limit: int) -> tuple[int, bool]:
    """(`json_extent`, whether the brackets closed)."""
    depth, in_str, escaped = 0, False, False
    for i in range(start, limit):
        c = text[i]
        if in_str:
            escaped, in_str = (not escaped and c == "\\"), (escaped or c != '"')
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                end = i + 1
                while end < limit and text[end] == "}":  # doubled braces' extra closers
                    end += 1
                return end, True
    return limit, False
