"""Tool calls written into a reply's text, in the dialects local models use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from claw_nb.toolcalls.arguments import (
    ToolCall,
    get_field,
    json_error,
    loads_lenient,
    make_call,
    new_call_id,
)
from claw_nb.toolcalls.schema import schema_types

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
        spec = get_field(spec, "function") or spec
        schemas[name] = get_field(spec, "parameters") or spec
    return schemas




def _xml_value(value: str, prop_schema: Any) -> Any:
    value = value.removeprefix("\n").removesuffix("\n")
    if "string" in schema_types(prop_schema):
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
        props = get_field(schemas.get(name), "properties") or {}
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
        value, repaired = loads_lenient(body)
    except ValueError as exc:
        name = _NAME.search(body)
        error = json_error(body, exc, "the <tool_call> block") + f" Write calls as {_SHAPE}."
        return [ToolCall(new_call_id(), name.group(1) if name else "", body, None, error)]
    calls = []
    for item in value if isinstance(value, list) else [value]:
        if (parts := _call_parts(item, need_arguments=False)) is not None:
            calls.append(make_call(*parts, repaired))
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
            value, repaired = loads_lenient(fence.group(2).strip())
        except ValueError:
            continue
        parts = [_call_parts(item, need_arguments=True)
                 for item in (value if isinstance(value, list) and value else [value])]
        if all(p is not None and (known_tools is None or p[0] in known_tools) for p in parts):
            found.append((fence.start(), fence.end(), [make_call(*p, repaired) for p in parts]))
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


