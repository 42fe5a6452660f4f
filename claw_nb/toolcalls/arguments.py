"""Tool-call arguments as local models send them: JSON repaired, double encoding undone.

`ToolCall` is the one normalised shape the agent loop sees, native or parsed out of text.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from claw_nb.records import record


@record(frozen=True)
class ToolCall:
    """One call, normalised so the agent loop treats native and text-embedded calls alike."""

    id: str
    name: str
    raw_arguments: str
    arguments: dict | None
    error: str | None = None
    repaired: bool = False
    # Where the call came from: "native" (the server's tool_calls field) or the text dialect
    # it was parsed out of ("qwen_xml", "hermes", "tagged_json", "fenced_json", "bare_json").
    dialect: str = "native"
    # The reply text a text-dialect call was parsed from ('' for native calls): compared with
    # what the agent read, so a call copied from a file is not run as the model's own.
    source: str = field(default="", compare=False, repr=False)


def new_call_id() -> str:
    """An id for calls the server did not number, so tool results can still be paired."""
    return "call_" + os.urandom(12).hex()


# --------------------------------------------------------------------------- arguments

_EXAMPLE = '{"path": "src/app.py", "offset": 10}'
_FENCED = re.compile(r"\A\s*```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL)
_WORD = re.compile(r"\w+")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def json_type(value: Any) -> str:
    return next((n for kind, n in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def short_json(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drop_trailing_comma(out: list[str]) -> None:
    i = len(out) - 1
    while i >= 0 and out[i].isspace():
        i -= 1
    if i >= 0 and out[i] == ",":
        del out[i]


_VALID_ESCAPES = frozenset('"\\/bfnrtu')


def _repair_json(text: str) -> str:
    """Fix what local models get wrong most: trailing commas, Python literals, `//` and `/* */`
    comments, invalid escapes such as `\\.` (kept as a literal backslash), and strings or
    brackets left open when output was cut off. Anything else is left for json to reject."""
    out: list[str] = []
    stack: list[str] = []
    in_str = escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            if escaped and c not in _VALID_ESCAPES:
                out.append("\\")  # `\.` -> `\\.`: the backslash the model meant literally
            escaped, in_str = (not escaped and c == "\\"), (escaped or c != '"')
        elif c == "/" and text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline == -1 else newline
            continue
        elif c == "/" and text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = len(text) if close == -1 else close + 2
            continue
        elif c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]":
            _drop_trailing_comma(out)
            if not stack or stack[-1] != c:  # a stray closer: drop it
                i += 1
                continue
            stack.pop()
        elif c.isalpha() or c == "_":
            word = _WORD.match(text, i).group()  # type: ignore[union-attr]  # c matches \w
            out.append(_PY_LITERALS.get(word, word))
            i += len(word)
            continue
        out.append(c)
        i += 1
    if in_str:
        if escaped:
            out.pop()
        out.append('"')
    while stack:
        _drop_trailing_comma(out)
        out.append(stack.pop())
    return "".join(out)


def loads_lenient(text: str) -> tuple[Any, bool]:
    """(value, repaired): strict JSON, then repaired JSON, then Python literal syntax. Raises the
    strict error so messages point at what the model actually wrote."""
    try:
        return json.loads(text), False
    except ValueError as exc:
        first = exc
    except RecursionError:
        raise ValueError("nested too deeply") from None
    fenced = _FENCED.match(text)
    body = (fenced.group(1) if fenced else text).strip()
    try:
        return json.loads(_repair_json(body), strict=False), True
    except (ValueError, RecursionError):
        pass
    try:  # single-quoted "JSON" is usually a Python dict repr
        return json.loads(json.dumps(ast.literal_eval(body))), True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise first from None


def json_error(text: str, exc: ValueError, what: str = "the arguments") -> str:
    where, reason = "", getattr(exc, "msg", str(exc))
    if isinstance(exc, json.JSONDecodeError):
        near = text[max(0, exc.pos - 30) : exc.pos + 30]
        where = f" at line {exc.lineno} column {exc.colno} (near {near!r})"
    return (
        f"Could not parse {what} as JSON: {reason}{where}. Send the arguments as one JSON "
        f"object with double-quoted keys and strings, e.g. {_EXAMPLE}; inside strings escape "
        'double quotes as \\" and newlines as \\n.'
    )


def not_object_error(value: Any) -> str:
    return (
        f"The arguments must be a JSON object mapping parameter names to values, but got "
        f"{json_type(value)} {short_json(value)}. Send e.g. {_EXAMPLE}."
    )


def _parse_text(raw: str, decode_nested: bool) -> tuple[dict | None, str | None, bool]:
    text = raw.strip()
    if text in ("", "null"):
        return {}, None, False
    try:
        value, repaired = loads_lenient(text)
    except ValueError as exc:
        return None, json_error(text, exc), False
    if isinstance(value, str) and decode_nested:
        inner, error, _ = _parse_text(value, decode_nested=False)
        return (inner, None, True) if error is None else (None, not_object_error(value), False)
    if isinstance(value, dict):
        return value, None, repaired
    return None, not_object_error(value), False


def parse_arguments(raw: str | dict | None) -> tuple[dict | None, str | None, bool]:
    """(arguments, error, repaired). Small defects are repaired rather than bounced back to the
    model: every round trip costs a slow local generation."""
    if raw is None or isinstance(raw, dict):
        return ({} if raw is None else raw), None, False
    if not isinstance(raw, str):
        return None, not_object_error(raw), False
    return _parse_text(raw, decode_nested=True)


def get_field(obj: Any, key: str) -> Any:
    """Dict key or attribute: LiteLLM hands out pydantic-like objects, servers and tests dicts."""
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def make_call(name: str, args: Any, repaired: bool = False, call_id: str | None = None) -> ToolCall:
    raw = args if isinstance(args, str) else "" if args is None else short_json(args, 10**9)
    parsed, error, fixed = parse_arguments(args)
    return ToolCall(
        call_id or new_call_id(), (name or "").strip(), raw, parsed, error, repaired or fixed
    )


def from_native(tool_calls: list[dict]) -> list[ToolCall]:
    """OpenAI-format tool_calls (dicts or LiteLLM objects) -> ToolCalls; missing ids generated."""
    return [
        make_call(
            get_field(get_field(tc, "function"), "name"),
            get_field(get_field(tc, "function"), "arguments"),
            call_id=get_field(tc, "id"),
        )
        for tc in tool_calls or []
    ]
