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
    """One call, normalised so the agent loop treats native and text-embedded calls alike."""

    id: str
    name: str
    raw_arguments: str
    arguments: dict | None
    error: str | None = None
    repaired: bool = False


def new_call_id() -> str:
    """An id for calls the server did not number, so tool results can still be paired."""
    return "call_" + uuid.uuid4().hex[:24]


# --------------------------------------------------------------------------- arguments

_EXAMPLE = '{"path": "src/app.py", "offset": 10}'
_FENCED = re.compile(r"\A\s*```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL)
_WORD = re.compile(r"\w+")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"), (type(None), "null"))


def _json_type(value: Any) -> str:
    return next((n for kind, n in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drop_trailing_comma(out: list[str]) -> None:
    i = len(out) - 1
    while i >= 0 and out[i].isspace():
        i -= 1
    if i >= 0 and out[i] == ",":
        del out[i]


def _repair_json(text: str) -> str:
    """Fix what local models get wrong most: trailing commas, Python literals, and strings or
    brackets left open when output was cut off. Anything else is left for json to reject."""
    out: list[str] = []
    stack: list[str] = []
    in_str = escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            escaped, in_str = (not escaped and c == "\\"), (escaped or c != '"')
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


def _loads_lenient(text: str) -> tuple[Any, bool]:
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
    """(arguments, error, repaired). Small defects are repaired rather than bounced back to the
    model: every round trip costs a slow local generation."""
    if raw is None or isinstance(raw, dict):
        return ({} if raw is None else raw), None, False
    if not isinstance(raw, str):
        return None, _not_object_error(raw), False
    return _parse_text(raw, decode_nested=True)


def _get(obj: Any, key: str) -> Any:
    """Dict key or attribute: LiteLLM hands out pydantic-like objects, servers and tests dicts."""
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _make_call(name: str, args: Any, repaired: bool = False, call_id: str | None = None
               ) -> ToolCall:
    raw = args if isinstance(args, str) else "" if args is None else _short(args, 10**9)
    parsed, error, fixed = parse_arguments(args)
    return ToolCall(call_id or new_call_id(), (name or "").strip(), raw, parsed, error,
                    repaired or fixed)


def from_native(tool_calls: list[dict]) -> list[ToolCall]:
    """OpenAI-format tool_calls (dicts or LiteLLM objects) -> ToolCalls; missing ids generated."""
    return [_make_call(_get(_get(tc, "function"), "name"), _get(_get(tc, "function"), "arguments"),
                       call_id=_get(tc, "id")) for tc in tool_calls or []]


# --------------------------------------------------------------------------- calls in text

_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_OPENER = re.compile(r"<tool_call>|<function=")
_FUNC_OPEN = re.compile(r"<function=([^>\n]*)>")
_PARAM_OPEN = re.compile(r"<parameter=([^>\n]*)>")
# A </parameter> counts only where the structure goes on, so values may contain the tag.
_PARAM_END = re.compile(r"</parameter>\s*(?=<parameter=|</function>|</tool_call>|\Z)")
_VALUE_STOP = re.compile(r"</parameter>|<parameter=|</function>|</tool_call>")
_CODE_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')
_CUT = "\ue000"  # private-use character marking where a call was cut out
_GAP = re.compile(r"\s*(?:\ue000\s*)+")
_SHAPE = '<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>'

Found = list[tuple[int, int, list[ToolCall]]]


def _think_spans(text: str) -> list[tuple[int, int]]:
    """Reasoning regions: calls there are the model thinking aloud, not acting. A leading
    orphan </think> means the chat template opened the block inside the prompt."""
    spans, pos = [], 0
    close, opened = _THINK_CLOSE.search(text), _THINK_OPEN.search(text)
    if close and (not opened or close.start() < opened.start()):
        spans, pos = [(0, close.end())], close.end()
    while (opened := _THINK_OPEN.search(text, pos)) is not None:
        close = _THINK_CLOSE.search(text, opened.end())
        pos = close.end() if close else len(text)
        spans.append((opened.start(), pos))
    return spans


def _tool_schemas(known_tools: Collection[str] | None) -> dict[str, Any]:
    """known_tools may map names to tool specs or parameter schemas; then XML values of string
    parameters stay strings (a file whose whole content is `42` must not become an int)."""
    schemas = {}
    for name, spec in known_tools.items() if isinstance(known_tools, Mapping) else ():
        spec = _get(spec, "function") or spec
        schemas[name] = _get(spec, "parameters") or spec
    return schemas


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    return types + [t for sub in [*schema.get("anyOf", []), *schema.get("oneOf", [])]
                    for t in _types(sub)]


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


def _parse_xml(text: str, pos: int, limit: int, schemas: dict) -> tuple[list[ToolCall], int]:
    """Consecutive <function=NAME><parameter=KEY>VALUE</parameter>...</function> blocks from pos,
    tolerating missing closing tags; returns (calls, end)."""
    calls = []
    while (func := _FUNC_OPEN.match(text, pos, limit)) is not None:
        name = func.group(1).strip().strip("\"'")
        props = _get(schemas.get(name), "properties") or {}
        raw, params, pos = {}, {}, func.end()
        while (param := _PARAM_OPEN.match(text, _skip_ws(text, pos, limit), limit)) is not None:
            if (end := _PARAM_END.search(text, param.end(), limit)) is not None:
                value, pos = text[param.end(): end.start()], end.end()
            else:
                stop = _VALUE_STOP.search(text, param.end(), limit)
                pos = stop.start() if stop else limit
                value = text[param.end(): pos]
                pos += len("</parameter>") if stop and stop.group() == "</parameter>" else 0
            key = param.group(1).strip().strip("\"'")
            raw[key], params[key] = value, _xml_value(value, props.get(key))
        pos = _skip_ws(text, pos, limit)
        pos += len("</function>") if text.startswith("</function>", pos) else 0
        calls.append(ToolCall(new_call_id(), name, json.dumps(raw, ensure_ascii=False), params))
        pos = _skip_ws(text, pos, limit)
    return calls, pos


def _in_prose(text: str, start: int, limit: int) -> bool:
    """A <function=NAME> without <tool_call> is a call only when <parameter= or </function>
    follows, so `<function=name>` quoted in prose is not run."""
    func = _FUNC_OPEN.match(text, start, limit)
    after = _skip_ws(text, func.end(), limit) if func else limit
    return not text.startswith(("<parameter=", "</function>"), after)


def _call_parts(obj: Any, need_arguments: bool) -> tuple[str, Any] | None:
    """(name, arguments) of {"name", "arguments"|"parameters"} or OpenAI's {"function": {...}}."""
    if not isinstance(obj, dict):
        return None
    obj = obj["function"] if isinstance(obj.get("function"), dict) else obj
    key = next((k for k in ("arguments", "parameters") if k in obj), None)
    if not isinstance(obj.get("name"), str) or (key is None and need_arguments):
        return None
    return obj["name"], obj.get(key) if key else None


def _parse_json_block(body: str) -> list[ToolCall]:
    body = body.strip()
    if not body:
        return [ToolCall(new_call_id(), "", "", None, f"The <tool_call> was empty: {_SHAPE}.")]
    try:
        value, repaired = _loads_lenient(body)
    except ValueError as exc:
        name = _NAME.search(body)
        error = _json_error(body, exc, "the <tool_call> block") + f" Write calls as {_SHAPE}."
        return [ToolCall(new_call_id(), name.group(1) if name else "", body, None, error)]
    calls = []
    for item in value if isinstance(value, list) else [value]:
        if (parts := _call_parts(item, need_arguments=False)) is not None:
            calls.append(_make_call(*parts, repaired))
        else:
            error = f'A <tool_call> must hold a JSON object with "name" and "arguments": {_SHAPE}.'
            calls.append(ToolCall(new_call_id(), "", body, None, error))
    return calls


def _fenced_calls(text: str, start: int, end: int, known_tools: Collection[str] | None) -> Found:
    found = []
    for fence in _CODE_FENCE.finditer(text, start, end):
        if fence.group(1).lower() not in ("", "json"):
            continue
        try:
            value, repaired = _loads_lenient(fence.group(2).strip())
        except ValueError:
            continue
        parts = [_call_parts(item, need_arguments=True)
                 for item in (value if isinstance(value, list) and value else [value])]
        if all(p is not None and (known_tools is None or p[0] in known_tools) for p in parts):
            found.append((fence.start(), fence.end(), [_make_call(*p, repaired) for p in parts]))
    return found


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Cut calls out: a call on its own lines leaves a paragraph break, an inline one a space."""
    pieces, prev = [], 0
    for start, end in spans:
        pieces.append(text[prev:start])
        prev = end
    joined = _CUT.join([*pieces, text[prev:]])
    return _GAP.sub(lambda m: "\n\n" if "\n" in m.group() else " ", joined).strip()


def extract_text_tool_calls(text: str, known_tools: Collection[str] | None = None
                            ) -> tuple[str, list[ToolCall]]:
    """(text without the calls, calls) for calls a model wrote into its content: Qwen3-Coder
    XML, Hermes <tool_call> JSON, or fenced JSON (only naming a known tool, when known_tools is
    given, so example JSON shown to a user does not run). Calls inside <think> are left alone."""
    if not text:
        return text or "", []
    blocked, schemas, found = _think_spans(text), _tool_schemas(known_tools), []
    pos = 0
    while (opener := _OPENER.search(text, pos)) is not None:
        start, pos = opener.start(), opener.end()
        if (inside := next((e for s, e in blocked if s <= start < e), None)) is not None:
            pos = inside
            continue
        limit = min([s for s, _ in blocked if s > start] + [len(text)])
        bare = opener.group() == "<function="  # no <tool_call> wrapper
        xml_at = start if bare else _skip_ws(text, pos, limit)
        if _FUNC_OPEN.match(text, xml_at, limit) and not (bare and _in_prose(text, start, limit)):
            calls, end = _parse_xml(text, xml_at, limit, schemas)
            end += len("</tool_call>") if text.startswith("</tool_call>", end) else 0
        elif bare:
            continue
        else:
            close = text.find("</tool_call>", pos, limit)
            if close == -1:  # unterminated: runs to the next call or the end
                following = text.find("<tool_call>", pos, limit)
                close = end = following if following != -1 else limit
            else:
                end = close + len("</tool_call>")
            calls = _parse_json_block(text[pos:close])
        found.append((start, end, calls))
        pos = max(end, pos)
    prev = 0
    for s, e in sorted([(s, e) for s, e, _ in found] + blocked + [(len(text), len(text))]):
        found += _fenced_calls(text, prev, s, known_tools) if s > prev else []
        prev = max(prev, e)
    found.sort(key=lambda item: item[0])
    return (_remove_spans(text, [(s, e) for s, e, _ in found]),
            [call for _, _, group in found for call in group])


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
    if kind in ("integer", "number"):
        if _INT.fullmatch(text):
            return int(text)
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
            value = _loads_lenient(text)[0]
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
        for kind in (k for k in _KIND_ORDER if k in types):
            if (converted := _from_string(kind, value.strip())) is not _NO:
                return _coerce_value(schema, converted)
        return value
    if "string" in types and value is not None:  # 42 for a string parameter: the model meant "42"
        return json.dumps(value, ensure_ascii=False)
    return value


def coerce_arguments(schema: dict, arguments: dict) -> dict:
    """A copy with values converted to the declared types where the intent is clear ("5" -> 5,
    "true" -> True, '[1, 2]' -> [1, 2], 42 -> "42"): local models send strings for everything and
    refusing them only costs another slow turn. Unconvertible values are left for validation."""
    if not isinstance(arguments, dict) or not isinstance(schema, Mapping):
        return arguments
    props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
    out = {}
    for key, value in arguments.items():
        prop = props.get(key, extra)
        out[key] = _coerce_value(prop, value) if isinstance(prop, Mapping) else value
    return out


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"'{text}'" if text else "the arguments"


def _describe(err: Any) -> list[str]:
    where = _where(err.absolute_path)
    noun = "argument '{}'" if not err.absolute_path else "field '{}' in " + where
    if err.validator == "required" and isinstance(err.instance, dict):
        return ["missing required " + noun.format(name) for name in err.validator_value
                if name not in err.instance]
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
    """None if the arguments (after `coerce_arguments`) fit the tool's parameters schema, else one
    message listing every problem, so the model can fix them all in a single retry."""
    if not isinstance(arguments, dict):
        return _not_object_error(arguments)
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    validator = validator_for(schema, default=Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(coerce_arguments(schema, arguments)),
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

def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class StreamingToolCallAccumulator:
    """Merges streamed tool-call deltas (dicts or LiteLLM objects) into OpenAI-format tool_calls,
    coping with servers that omit indices, repeat names or reuse index 0 for every call."""

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self._last: int | None = None

    def _slot(self, index: int | None, call_id: str | None) -> int:
        if call_id in self._by_id:
            return self._by_id[call_id]
        if index is not None and index in self._by_index:
            slot = self._by_index[index]
            call = self._calls[slot]
            # a new id on an index whose call looks complete: a server reusing index 0
            if not (call_id and call["id"] and _is_object(call["arguments"])):
                return slot
        elif index is None and not call_id and self._last is not None:
            return self._last
        index = max(self._by_index, default=-1) + 1 if index is None else index
        self._calls.append({"index": index, "id": "", "type": "function", "name": "",
                            "arguments": ""})
        self._by_index[index] = len(self._calls) - 1
        return len(self._calls) - 1

    def add(self, deltas: Any) -> None:
        """Feed one chunk's `delta.tool_calls` (a list, a single delta, or None)."""
        if isinstance(deltas, Mapping) or not isinstance(deltas, (list, tuple, type(None))):
            deltas = [deltas]
        for delta in deltas or []:
            call_id = _get(delta, "id") or None
            self._last = slot = self._slot(_get(delta, "index"), call_id)
            call = self._calls[slot]
            if call_id and not call["id"]:
                call["id"], self._by_id[call_id] = call_id, slot
            call["type"] = _get(delta, "type") or call["type"]
            fn = _get(delta, "function")
            name, args = _get(fn, "name"), _get(fn, "arguments")
            if name and name != call["name"]:  # a repeated or growing name replaces, else append
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
            if call["name"] or call["arguments"]:
                call["id"] = call["id"] or new_call_id()
                out.append({"id": call["id"], "type": call["type"],
                            "function": {"name": call["name"], "arguments": call["arguments"]}})
        return out
