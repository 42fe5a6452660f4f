"""Tool calls from local models, in whatever shape they arrive.

Local models send broken or double-encoded JSON arguments, or write the call into their text
(Qwen3-Coder XML, Hermes ``<tool_call>`` JSON, fenced JSON). This turns all of that into
`ToolCall`s, or says why not in words the model can act on. Stdlib only (jsonschema lazily).
"""

from __future__ import annotations

import ast
import json
import math
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One call, normalised so the agent loop handles native and text-embedded calls alike."""

    id: str
    name: str
    raw_arguments: str
    arguments: dict | None
    error: str | None = None
    repaired: bool = False


def new_call_id() -> str:
    """An id for calls the server did not number, so tool results can still be paired."""
    return "call_" + uuid.uuid4().hex[:24]


# --------------------------------------------------------------------------- argument parsing

_EXAMPLE = '{"path": "src/app.py", "offset": 10}'
_FENCED = re.compile(r"\A\s*```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL)
_WORD = re.compile(r"\w+")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"), (type(None), "null"))


def _json_type(value: Any) -> str:
    return next((n for kind, n in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drop_trailing_comma(out: list[str]) -> None:
    i = len(out) - 1
    while i >= 0 and out[i].isspace():
        i -= 1
    if i >= 0 and out[i] == ",":
        del out[i]


def _repair_json(text: str) -> str:
    """Fix what local models get wrong most: trailing commas, Python literals, unclosed strings
    and brackets (output cut off by a token limit). Everything else is left for json to reject."""
    out: list[str] = []
    stack: list[str] = []
    in_str = escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]":
            _drop_trailing_comma(out)
            if stack and stack[-1] == c:
                stack.pop()
        elif c.isalpha() or c == "_":
            word = _WORD.match(text, i)
            assert word is not None  # c is a word character
            out.append(_PY_LITERALS.get(word.group(), word.group()))
            i = word.end()
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


def _loads_lenient(text: str) -> tuple[Any, bool]:
    """(value, repaired). Strict JSON first, then repairs, then Python literal syntax.
    Raises the original JSON error so the message points at what the model actually wrote."""
    try:
        return json.loads(text), False
    except ValueError as exc:
        first = exc
    fenced = _FENCED.match(text)
    body = (fenced.group(1) if fenced else text).strip()
    try:
        return json.loads(_repair_json(body), strict=False), True
    except (ValueError, RecursionError):
        pass
    try:  # single-quoted "JSON" is usually a Python dict repr
        return json.loads(json.dumps(ast.literal_eval(body))), True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    raise first


def _json_error(text: str, exc: ValueError, what: str = "the arguments") -> str:
    where, reason = "", getattr(exc, "msg", str(exc))
    if isinstance(exc, json.JSONDecodeError):
        near = text[max(0, exc.pos - 30): exc.pos + 30]
        where = f" at line {exc.lineno} column {exc.colno} (near {near!r})"
    return (f"Could not parse {what} as JSON: {reason}{where}. Send the arguments as one JSON "
            f"object with double-quoted keys and strings, e.g. {_EXAMPLE}; inside strings escape "
            'double quotes as \\" and newlines as \\n.')


def _not_object_error(value: Any) -> str:
    return (f"The arguments must be a JSON object mapping parameter names to values, but got "
            f"{_json_type(value)} {_short(value)}. Send e.g. {_EXAMPLE}.")


def _parse_text(raw: str, decode_nested: bool) -> tuple[dict | None, str | None, bool]:
    text = raw.strip()
    if text in ("", "null"):
        return {}, None, False
    try:
        value, repaired = _loads_lenient(text)
    except ValueError as exc:
        return None, _json_error(text, exc), False
    if isinstance(value, str) and decode_nested:
        inner, error, _ = _parse_text(value, decode_nested=False)
        return (inner, None, True) if error is None else (None, _not_object_error(value), False)
    if isinstance(value, dict):
        return value, None, repaired
    return None, _not_object_error(value), False


def parse_arguments(raw: str | dict | None) -> tuple[dict | None, str | None, bool]:
    """(arguments, error, repaired): small defects are repaired rather than bounced back to the
    model, since every round trip costs a slow local generation."""
    if raw is None:
        return {}, None, False
    if isinstance(raw, dict):
        return raw, None, False
    if not isinstance(raw, str):
        return None, _not_object_error(raw), False
    return _parse_text(raw, decode_nested=True)


def _get(obj: Any, key: str) -> Any:
    """Dict key or attribute: LiteLLM hands out pydantic-like objects, tests and servers dicts."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _make_call(name: str, args: Any, repaired: bool = False, call_id: str | None = None) -> ToolCall:
    raw = args if isinstance(args, str) else "" if args is None else _short(args, 10**9)
    parsed, error, fixed = parse_arguments(args)
    return ToolCall(call_id or new_call_id(), (name or "").strip(), raw, parsed, error,
                    repaired or fixed)


def from_native(tool_calls: list[dict]) -> list[ToolCall]:
    """OpenAI-format tool_calls (dicts or LiteLLM objects) -> ToolCalls; missing ids generated."""
    calls = []
    for tc in tool_calls or []:
        fn = _get(tc, "function")
        calls.append(_make_call(_get(fn, "name") or "", _get(fn, "arguments"),
                                call_id=_get(tc, "id")))
    return calls


# --------------------------------------------------------------------------- calls in text

_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_OPENER = re.compile(r"<tool_call>|<function=")
_FUNC_OPEN = re.compile(r"<function=([^>\n]*)>")
_PARAM_OPEN = re.compile(r"<parameter=([^>\n]*)>")
# A </parameter> counts only where the structure continues, so values may contain the tag.
_PARAM_END = re.compile(r"</parameter>\s*(?=<parameter=|</function>|</tool_call>|\Z)")
_VALUE_STOP = re.compile(r"</parameter>|<parameter=|</function>|</tool_call>")
_CODE_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')
_CUT = "\ue000"  # private-use character marking where a call was cut out
_GAP = re.compile(r"\s*(?:\ue000\s*)+")


def _think_spans(text: str) -> list[tuple[int, int]]:
    """Regions holding reasoning: calls there are the model thinking aloud, not acting.
    A leading orphan </think> means the chat template opened the block in the prompt."""
    spans, pos = [], 0
    first_close, first_open = _THINK_CLOSE.search(text), _THINK_OPEN.search(text)
    if first_close and (not first_open or first_close.start() < first_open.start()):
        spans.append((0, first_close.end()))
        pos = first_close.end()
    while (opened := _THINK_OPEN.search(text, pos)) is not None:
        closed = _THINK_CLOSE.search(text, opened.end())
        pos = closed.end() if closed else len(text)
        spans.append((opened.start(), pos))
    return spans


def _tool_schemas(known_tools: Collection[str] | None) -> dict[str, dict]:
    """known_tools may be a mapping name -> tool spec or parameters schema; then XML values of
    string parameters stay strings (a file whose content is `42` must not become an int)."""
    if not isinstance(known_tools, Mapping):
        return {}
    schemas = {}
    for name, spec in known_tools.items():
        if isinstance(spec, Mapping):
            spec = spec.get("function", spec)
            schemas[name] = spec.get("parameters", spec) if isinstance(spec, Mapping) else {}
    return schemas


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            types += _types(sub)
    return types


def _xml_value(value: str, prop_schema: Any) -> Any:
    value = value.removeprefix("\n").removesuffix("\n")
    if "string" in _types(prop_schema):
        return value
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return value if isinstance(decoded, str) else decoded


def _skip_ws(text: str, pos: int, limit: int) -> int:
    while pos < limit and text[pos].isspace():
        pos += 1
    return pos


def _parse_xml_functions(text: str, pos: int, limit: int,
                         schemas: dict[str, dict]) -> tuple[list[ToolCall], int]:
    """Parse consecutive <function=...> blocks from pos; returns (calls, end position)."""
    calls = []
    while (func := _FUNC_OPEN.match(text, pos, limit)) is not None:
        name = func.group(1).strip().strip("\"'")
        props = (schemas.get(name) or {}).get("properties") or {}
        raw: dict[str, str] = {}
        params: dict[str, Any] = {}
        pos = func.end()
        while True:
            pos = _skip_ws(text, pos, limit)
            param = _PARAM_OPEN.match(text, pos, limit)
            if param is None:
                break
            end = _PARAM_END.search(text, param.end(), limit)
            if end is not None:
                value, pos = text[param.end(): end.start()], end.end()
            else:
                stop = _VALUE_STOP.search(text, param.end(), limit)
                value = text[param.end(): stop.start() if stop else limit]
                pos = stop.end() if stop and stop.group() == "</parameter>" else (
                    stop.start() if stop else limit)
            key = param.group(1).strip().strip("\"'")
            raw[key] = value
            params[key] = _xml_value(value, props.get(key))
        if text.startswith("</function>", pos):
            pos += len("</function>")
        calls.append(ToolCall(new_call_id(), name, json.dumps(raw, ensure_ascii=False), params))
        pos = _skip_ws(text, pos, limit)
    return calls, pos


def _call_parts(obj: Any, need_arguments: bool) -> tuple[str, Any] | None:
    """(name, arguments) from {"name", "arguments"|"parameters"} or the OpenAI {"function": ...}."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    key = "arguments" if "arguments" in obj else "parameters" if "parameters" in obj else None
    if not isinstance(obj.get("name"), str) or (key is None and need_arguments):
        return None
    return obj["name"], obj.get(key) if key else None


def _parse_json_block(body: str) -> list[ToolCall]:
    body = body.strip()
    shape = '<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>'
    try:
        value, repaired = _loads_lenient(body)
    except ValueError as exc:
        name = _NAME.search(body)
        error = _json_error(body, exc, "the <tool_call> block") + f" Write calls as {shape}."
        return [ToolCall(new_call_id(), name.group(1) if name else "", body, None, error)]
    calls = []
    for item in value if isinstance(value, list) else [value]:
        parts = _call_parts(item, need_arguments=False)
        if parts is None:
            error = f'A <tool_call> block must hold a JSON object with "name" and "arguments": {shape}.'
            calls.append(ToolCall(new_call_id(), "", body, None, error))
        else:
            calls.append(_make_call(parts[0], parts[1], repaired))
    return calls


def _fenced_calls(text: str, start: int, end: int,
                  known_tools: Collection[str] | None) -> list[tuple[int, int, list[ToolCall]]]:
    found = []
    for fence in _CODE_FENCE.finditer(text, start, end):
        if fence.group(1).lower() not in ("", "json"):
            continue
        try:
            value, repaired = _loads_lenient(fence.group(2).strip())
        except ValueError:
            continue
        items = value if isinstance(value, list) and value else [value]
        parts = [_call_parts(item, need_arguments=True) for item in items]
        if all(p is not None and (known_tools is None or p[0] in known_tools) for p in parts):
            calls = [_make_call(p[0], p[1], repaired) for p in parts if p is not None]
            found.append((fence.start(), fence.end(), calls))
    return found


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Cut the calls out; a call on its own lines leaves a paragraph break, an inline one a space."""
    pieces, prev = [], 0
    for start, end in spans:
        pieces.append(text[prev:start])
        prev = end
    joined = _CUT.join([*pieces, text[prev:]])
    return _GAP.sub(lambda m: "\n\n" if "\n" in m.group() else " ", joined).strip()


def extract_text_tool_calls(text: str, known_tools: Collection[str] | None = None
                            ) -> tuple[str, list[ToolCall]]:
    """(text without the calls, calls) for calls a model wrote into its content: Qwen3-Coder
    XML, Hermes <tool_call> JSON, or fenced JSON (only for known tools when known_tools is given).
    Calls inside <think> blocks are left alone."""
    if not text:
        return text or "", []
    blocked = _think_spans(text)
    schemas = _tool_schemas(known_tools)
    found: list[tuple[int, int, list[ToolCall]]] = []
    pos = 0
    while (opener := _OPENER.search(text, pos)) is not None:
        start = opener.start()
        inside = next((e for s, e in blocked if s <= start < e), None)
        if inside is not None:
            pos = inside
            continue
        limit = min([s for s, _ in blocked if s > start] + [len(text)])
        body_at = _skip_ws(text, opener.end(), limit)
        xml_at = start if opener.group() == "<function=" else body_at
        if _FUNC_OPEN.match(text, xml_at, limit):
            calls, end = _parse_xml_functions(text, xml_at, limit, schemas)
            if text.startswith("</tool_call>", end):
                end += len("</tool_call>")
        elif opener.group() == "<function=":
            pos = opener.end()
            continue
        else:
            close = text.find("</tool_call>", opener.end(), limit)
            if close == -1:
                following = text.find("<tool_call>", opener.end(), limit)
                close = end = following if following != -1 else limit
            else:
                end = close + len("</tool_call>")
            calls = _parse_json_block(text[opener.end(): close])
        found.append((start, end, calls))
        pos = max(end, opener.end())
    taken = sorted([(s, e) for s, e, _ in found] + blocked)
    prev = 0
    for s, e in taken + [(len(text), len(text))]:
        if s > prev:
            found += _fenced_calls(text, prev, s, known_tools)
        prev = max(prev, e)
    found.sort(key=lambda item: item[0])
    calls = [call for _, _, group in found for call in group]
    return _remove_spans(text, [(s, e) for s, e, _ in found]), calls


# --------------------------------------------------------------------------- schema checks

_INT = re.compile(r"[-+]?\d+")
_NO = object()
_KIND_ORDER = ("integer", "number", "boolean", "null", "array", "object")


def _matches(kind: str, value: Any) -> bool:
    actual = _json_type(value)
    if kind == "number":
        return actual in ("integer", "number")
    if kind == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == kind


def _from_string(kind: str, text: str) -> Any:
    if kind in ("integer", "number") and _INT.fullmatch(text):
        return int(text)
    if kind in ("integer", "number"):
        try:
            number = float(text)
        except ValueError:
            return _NO
        if not math.isfinite(number) or (kind == "integer" and not number.is_integer()):
            return _NO
        return int(number) if kind == "integer" else number
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "null" and text in ("null", "None"):
        return None
    if kind in ("array", "object"):
        try:
            value, _ = _loads_lenient(text)
        except ValueError:
            return _NO
        return value if _json_type(value) == kind else _NO
    return _NO


def _coerce_value(schema: Any, value: Any) -> Any:
    types = _types(schema)
    if isinstance(value, dict) and "object" in types:
        return coerce_arguments(schema, value)
    if isinstance(value, list) and "array" in types:
        items = schema.get("items")
        return [_coerce_value(items, v) for v in value] if isinstance(items, Mapping) else value
    if isinstance(value, float) and value.is_integer() and "integer" in types \
            and "number" not in types:
        return int(value)
    if not types or any(_matches(kind, value) for kind in types):
        return value
    if isinstance(value, str):
        for kind in _KIND_ORDER:
            converted = _from_string(kind, value.strip()) if kind in types else _NO
            if converted is not _NO:
                return _coerce_value(schema, converted)
        return value
    if "string" in types and value is not None:  # 42 for a string parameter: the model meant "42"
        return json.dumps(value, ensure_ascii=False)
    return value


def coerce_arguments(schema: dict, arguments: dict) -> dict:
    """A copy with values converted to the declared types where the intent is clear ("5" -> 5,
    "true" -> True, '[1, 2]' -> [1, 2], 42 -> "42"): local models send strings for everything
    and refusing them only costs another slow turn. Unconvertible values are left for validation."""
    if not isinstance(arguments, dict) or not isinstance(schema, Mapping):
        return arguments
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    out = {}
    for key, value in arguments.items():
        prop = props.get(key, extra if isinstance(extra, Mapping) else None)
        out[key] = _coerce_value(prop, value) if isinstance(prop, Mapping) else value
    return out


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"'{text}'" if text else "the arguments"


def _describe(err: Any) -> list[str]:
    path = list(err.absolute_path)
    where = _where(path)
    noun = "argument '{}'" if not path else "field '{}' in " + where
    if err.validator == "required":
        return ["missing required " + noun.format(name) for name in err.validator_value
                if isinstance(err.instance, dict) and name not in err.instance]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties") or {}
        patterns = err.schema.get("patternProperties") or {}
        return ["unknown " + noun.format(key) for key in err.instance
                if key not in known and not any(re.search(p, key) for p in patterns)]
    if err.validator == "type":
        wanted = err.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return [f"{where} must be {wanted}, got {_json_type(err.instance)} {_short(err.instance)}"]
    if err.validator == "enum":
        options = ", ".join(_short(v) for v in err.validator_value)
        return [f"{where} must be one of {options}; got {_short(err.instance)}"]
    return [f"{where}: {err.message}"]


def validate_arguments(schema: dict, arguments: dict) -> str | None:
    """None if the (coerced, see `coerce_arguments`) arguments fit the tool's parameters schema,
    else one message listing every problem, so the model can fix them all in one retry."""
    if not isinstance(arguments, dict):
        return _not_object_error(arguments)
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    errors = sorted(cls(schema).iter_errors(coerce_arguments(schema, arguments)),
                    key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)))
    problems = list(dict.fromkeys(p for err in errors for p in _describe(err)))
    if not problems:
        return None
    required = set(schema.get("required") or [])
    params = [f"{key} ({'/'.join(_types(prop)) or 'any'}{', required' if key in required else ''})"
              for key, prop in (schema.get("properties") or {}).items()]
    signature = f"\nThis tool's parameters: {', '.join(params)}." if params else ""
    return "Invalid arguments:\n" + "\n".join(f"- {p}" for p in problems) + signature


# --------------------------------------------------------------------------- streaming

class StreamingToolCallAccumulator:
    """Merges streamed tool-call deltas (dicts or LiteLLM objects) into complete OpenAI-format
    tool_calls, coping with servers that omit indices, repeat names or reuse index 0."""

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self._last: int | None = None

    def _slot(self, index: Any, call_id: str | None) -> int:
        if call_id and call_id in self._by_id:
            return self._by_id[call_id]
        if index is not None and index in self._by_index:
            slot = self._by_index[index]
            # a new id on an index whose call looks complete: a server reusing index 0
            if not (call_id and self._calls[slot]["id"] and _is_object(self._calls[slot]["arguments"])):
                return slot
        elif index is None and not call_id and self._last is not None:
            return self._last
        if index is None:
            index = max(self._by_index, default=-1) + 1
        self._calls.append({"index": index, "id": "", "type": "function", "name": "",
                            "arguments": ""})
        self._by_index[index] = len(self._calls) - 1
        return len(self._calls) - 1

    def add(self, deltas: Any) -> None:
        """Feed `delta.tool_calls` of one chunk (a list, one delta, or None)."""
        if deltas is None:
            return
        if isinstance(deltas, Mapping) or not isinstance(deltas, (list, tuple)):
            deltas = [deltas]
        for delta in deltas:
            call_id = _get(delta, "id") or None
            slot = self._slot(_get(delta, "index"), call_id)
            call = self._calls[slot]
            self._last = slot
            if call_id and not call["id"]:
                call["id"] = call_id
                self._by_id[call_id] = slot
            call["type"] = _get(delta, "type") or call["type"]
            fn = _get(delta, "function")
            name, args = _get(fn, "name"), _get(fn, "arguments")
            if name and name != call["name"]:
                # a growing or repeated full name replaces; a fragment is appended
                call["name"] = name if name.startswith(call["name"]) else call["name"] + name
            if isinstance(args, Mapping):
                call["arguments"] = json.dumps(args, ensure_ascii=False)
            elif args and not (args == call["arguments"] and _is_object(args)):
                call["arguments"] += args

    def finish(self) -> list[dict]:
        """OpenAI-format tool_calls in index order; ids generated where the server sent none."""
        out = []
        for slot in sorted(range(len(self._calls)), key=lambda s: (self._calls[s]["index"], s)):
            call = self._calls[slot]
            if not (call["name"] or call["arguments"]):
                continue
            call["id"] = call["id"] or new_call_id()
            out.append({"id": call["id"], "type": call["type"],
                        "function": {"name": call["name"], "arguments": call["arguments"]}})
        return out


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
