"""Tool calls written into a reply's text, in the dialects local models use."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from claw_nb.toolcalls.arguments import (
    ToolCall,
    get_field,
    json_error,
    loads_lenient,
    make_call,
    new_call_id,
)
from claw_nb.toolcalls.prefixed import functions_calls
from claw_nb.toolcalls.schema import schema_types
from claw_nb.toolcalls.text_scan import (
    CALL_SHAPE,
    Found,
    json_extent,
    labelled,
    skip_ws,
)

_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_OPENER = re.compile(r"<(tool_call|tools|function_call|functioncall)>|<function=")
_FUNC_OPEN = re.compile(r"<function=([^>\n]*)>")
_PARAM_OPEN = re.compile(r"<parameter=([^>\n]*)>")
# A </parameter> counts only where the structure goes on, so values may contain the tag.
_PARAM_END = re.compile(r"</parameter>\s*(?=<parameter=|</function>|</tool_call>|\Z)")
_VALUE_STOP = re.compile(r"</parameter>|<parameter=|</function>|</tool_call>")
_CODE_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')
_ARGS_KEY = re.compile(r'"(?:arguments|parameters)"\s*:')
# Bare JSON calls start a line (or follow Mistral's [TOOL_CALLS] marker).
_BARE_OPEN = re.compile(r"(?m)^[ \t]*(?:\[TOOL_CALLS\]\s*)?[\[{]")
# An unknown name counts as an attempted call only if it is spelled like a tool (`create_file`),
# not like data (`"name": "Alice"`).
_TOOL_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_CALL_KEYS = frozenset({"name", "arguments", "parameters", "id", "type", "function"})
_BARE_BUDGET_FACTOR, _BARE_BUDGET_CHARS = 8, 65_536  # see _bare_calls
_CUT = "\ue000"  # private-use character marking where a call was cut out
_GAP = re.compile(r"\s*(?:\ue000\s*)+")


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


def _parse_xml(text: str, pos: int, limit: int, schemas: dict) -> tuple[list[ToolCall], int]:
    """Consecutive <function=NAME><parameter=KEY>VALUE</parameter>...</function> blocks from pos,
    tolerating missing closing tags; returns (calls, end)."""
    calls = []
    while (func := _FUNC_OPEN.match(text, pos, limit)) is not None:
        name = func.group(1).strip().strip("\"'")
        props = get_field(schemas.get(name), "properties") or {}
        raw, params, pos = {}, {}, func.end()
        while (param := _PARAM_OPEN.match(text, skip_ws(text, pos, limit), limit)) is not None:
            if (end := _PARAM_END.search(text, param.end(), limit)) is not None:
                value, pos = text[param.end() : end.start()], end.end()
            else:
                stop = _VALUE_STOP.search(text, param.end(), limit)
                pos = stop.start() if stop else limit
                value = text[param.end() : pos]
                pos += len("</parameter>") if stop and stop.group() == "</parameter>" else 0
            key = param.group(1).strip().strip("\"'")
            raw[key], params[key] = value, _xml_value(value, props.get(key))
        pos = skip_ws(text, pos, limit)
        pos += len("</function>") if text.startswith("</function>", pos) else 0
        calls.append(ToolCall(new_call_id(), name, json.dumps(raw, ensure_ascii=False), params))
        pos = skip_ws(text, pos, limit)
    return calls, pos


def _in_prose(text: str, start: int, limit: int) -> bool:
    """A <function=NAME> without <tool_call> is a call only when <parameter= or </function>
    follows, so `<function=name>` quoted in prose is not run."""
    func = _FUNC_OPEN.match(text, start, limit)
    after = skip_ws(text, func.end(), limit) if func else limit
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


def _split_objects(body: str) -> list[str] | None:
    """Several JSON objects one after another (one call per line): their texts, else None."""
    decoder, pos, parts = json.JSONDecoder(), 0, []
    while pos < len(body):
        while pos < len(body) and body[pos] in " \t\r\n,":
            pos += 1
        if pos == len(body):
            break
        try:
            _, end = decoder.raw_decode(body, pos)
        except ValueError:
            return None
        parts.append(body[pos:end])
        pos = end
    return parts if len(parts) > 1 else None


def _parse_json_block(body: str, tag: str = "tool_call") -> list[ToolCall]:
    body = _undouble(body.strip())
    shape = CALL_SHAPE.replace("tool_call", tag)
    if not body:
        return [ToolCall(new_call_id(), "", "", None, f"The <{tag}> was empty: {shape}.")]
    try:
        value, repaired = loads_lenient(body)
    except ValueError as exc:
        if (several := _split_objects(body)) is not None:
            return [call for part in several for call in _parse_json_block(part, tag)]
        name = _NAME.search(body)
        error = json_error(body, exc, f"the <{tag}> block") + f" Write calls as {shape}."
        return [ToolCall(new_call_id(), name.group(1) if name else "", body, None, error)]
    calls = []
    for item in value if isinstance(value, list) else [value]:
        if (parts := _call_parts(item, need_arguments=False)) is not None:
            calls.append(make_call(*parts, repaired))
        else:
            error = f'A <{tag}> must hold a JSON object with "name" and "arguments": {shape}.'
            calls.append(ToolCall(new_call_id(), "", body, None, error))
    return calls


def _undouble(body: str) -> str:
    """`{{"name": ...}}` (a template's escaped braces copied literally) -> `{"name": ...}`."""
    if not body.startswith("{{"):
        return body
    body = body.replace("{{", "{").replace("}}", "}")
    return body.rstrip("}") + "}" * max(1, body.count("{") - body.rstrip("}").count("}"))


def _flattened_call(obj: Any, known_tools: Collection[str] | None) -> tuple[str, dict] | None:
    """`{"name": "write_file", "path": "a.py", "content": "x"}`: a known tool's name with its
    arguments beside it instead of under "arguments" (small models flatten calls). Only a name
    the agent really has counts, so `{"name": "my-app", "version": "1.0"}` stays text."""
    if (
        not isinstance(obj, dict)
        or not known_tools
        or obj.get("name") not in known_tools
        or any(key in obj for key in ("arguments", "parameters", "function"))
    ):
        return None
    arguments = {k: v for k, v in obj.items() if k not in ("name", "type", "id")}
    return (obj["name"], arguments) if arguments else None


def _is_call_object(obj: Any, known_tools: Collection[str] | None) -> bool:
    """A JSON value is an attempted call when it names a known tool with arguments, or has
    exactly the keys of a call (name + arguments/parameters) and a name spelled like a tool: a
    call to a tool that does not exist is still an attempt, answered with the real tools."""
    if _flattened_call(obj, known_tools) is not None:
        return True
    parts = _call_parts(obj, need_arguments=True)
    if parts is None:
        return False
    if known_tools is None or parts[0] in known_tools:
        return True
    inner = obj["function"] if isinstance(obj.get("function"), dict) else obj
    return (
        set(inner) <= _CALL_KEYS
        and set(obj) <= _CALL_KEYS
        and _TOOL_NAME.fullmatch(parts[0]) is not None
    )


def calls_in_json(
    body: str, known_tools: Collection[str] | None, dialect: str, what: str
) -> list[ToolCall] | None:
    """The calls a JSON text holds; an error call when it looks like a call but does not parse;
    None when it is not a call at all (example JSON in an answer)."""
    body = _undouble(body.strip())
    try:
        value, repaired = loads_lenient(body)
    except ValueError as exc:
        if _NAME.search(body) and _ARGS_KEY.search(body):
            name = _NAME.search(body).group(1)  # type: ignore[union-attr]
            error = json_error(body, exc, what) + f" Write calls as {CALL_SHAPE}."
            return [ToolCall(new_call_id(), name, body, None, error, dialect=dialect)]
        return None
    items = value if isinstance(value, list) and value else [value]
    if not all(_is_call_object(item, known_tools) for item in items):
        return None
    calls = [
        make_call(
            *(_flattened_call(item, known_tools) or _call_parts(item, need_arguments=True)),
            repaired,
        )  # type: ignore[misc]
        for item in items
    ]
    return labelled(calls, dialect)


def _fenced_calls(text: str, start: int, end: int, known_tools: Collection[str] | None) -> Found:
    """Calls in code fences of any language (```json, ```bash, ``` ...) whose body is JSON."""
    found = []
    for fence in _CODE_FENCE.finditer(text, start, end):
        body = fence.group(2).strip()
        if not body.startswith(("{", "[")):
            continue
        calls = calls_in_json(body, known_tools, "fenced_json", "the call in the code block")
        if calls is not None:
            found.append((fence.start(), fence.end(), calls))
    return found


def _bare_calls(text: str, start: int, end: int, known_tools: Collection[str] | None) -> Found:
    """Calls written as bare JSON at the start of a line (`{"name": ..., "arguments": ...}`,
    a list of them, or after Mistral's `[TOOL_CALLS]` marker), outside fences and tags.

    Each line that opens a bracket is read up to where it closes: thousands of `{` lines that
    never close would make that quadratic (minutes for 32 KB), so the characters read are
    budgeted at a few times the text's length; a reply that spends it has no more bare calls."""
    found, pos = [], start
    budget = _BARE_BUDGET_FACTOR * (end - start) + _BARE_BUDGET_CHARS
    while (opener := _BARE_OPEN.search(text, pos, end)) is not None:
        json_at = opener.end() - 1
        stop = json_extent(text, json_at, end)
        budget -= stop - json_at
        if budget < 0:
            break
        calls = calls_in_json(text[json_at:stop], known_tools, "bare_json", "the JSON call")
        if calls is not None:
            found.append((opener.start(), stop, calls))
            pos = stop
        else:
            pos = opener.end()
    return found


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Cut calls out: a call on its own lines leaves a paragraph break, an inline one a space."""
    pieces, prev = [], 0
    for start, end in spans:
        pieces.append(text[prev:start])
        prev = end
    joined = _CUT.join([*pieces, text[prev:]])
    return _GAP.sub(lambda m: "\n\n" if "\n" in m.group() else " ", joined).strip()


def _tagged_calls(text: str, blocked: list[tuple[int, int]], schemas: dict) -> Found:
    """Qwen3-Coder XML (`<function=NAME>`, wrapped in <tool_call> or not) and JSON inside
    <tool_call>, <tools>, <function_call> or <functioncall> tags."""
    found, pos = [], 0
    while (opener := _OPENER.search(text, pos)) is not None:
        start, pos = opener.start(), opener.end()
        if (inside := next((e for s, e in blocked if s <= start < e), None)) is not None:
            pos = inside
            continue
        limit = min([s for s, _ in blocked if s > start] + [len(text)])
        tag = opener.group(1)
        bare = tag is None  # <function=...> without a wrapper
        xml_at = start if bare else skip_ws(text, pos, limit)
        if _FUNC_OPEN.match(text, xml_at, limit) and not (bare and _in_prose(text, start, limit)):
            calls, end = _parse_xml(text, xml_at, limit, schemas)
            closer = f"</{tag or 'tool_call'}>"
            end += len(closer) if text.startswith(closer, end) else 0
            calls = labelled(calls, "qwen_xml")
        elif bare:
            continue
        else:
            closer = f"</{tag}>"
            close = text.find(closer, pos, limit)
            if close == -1:  # unterminated: runs to the next call or the end
                if xml_at < limit and not text.startswith(("{", "[", "`"), xml_at):
                    continue  # the tag named in prose ("listed in <tools> tags"), not a call
                following = text.find(f"<{tag}>", pos, limit)
                close = end = following if following != -1 else limit
            else:
                end = close + len(closer)
            calls = labelled(
                _parse_json_block(text[pos:close], tag),
                "hermes" if tag == "tool_call" else "tagged_json",
            )
        found.append((start, end, calls))
        pos = max(end, pos)
    return found


def _gaps(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The stretches of the text that no span covers."""
    out, prev = [], 0
    for s, e in sorted(spans + [(length, length)]):
        if s > prev:
            out.append((prev, s))
        prev = max(prev, e)
    return out


def extract_text_tool_calls(
    text: str, known_tools: Collection[str] | None = None
) -> tuple[str, list[ToolCall]]:
    """(text without the calls, calls) for calls a model wrote into its content.

    Shapes: Qwen3-Coder XML, JSON in <tool_call> / <tools> / <function_call> tags, JSON in a
    code fence of any language, bare JSON at the start of a line, and llama-cpp-python's
    `functions.NAME:` followed by JSON. JSON outside tags counts as a
    call only when it names a known tool or has exactly a call's keys (see `_is_call_object`),
    so example JSON in an answer does not run. Anything that is clearly an attempted call but
    cannot be parsed comes back as a ToolCall with `error` set, for the model to fix. Calls
    inside <think> are left alone."""
    if not text:
        return text or "", []
    blocked, schemas = _think_spans(text), _tool_schemas(known_tools)
    found = _tagged_calls(text, blocked, schemas)
    taken = [(s, e) for s, e, _ in found] + blocked
    for s, e in _gaps(taken, len(text)):
        found += _fenced_calls(text, s, e, known_tools)
    taken = (
        [(s, e) for s, e, _ in found]
        + blocked
        + [(m.start(), m.end()) for m in _CODE_FENCE.finditer(text)]
    )
    for s, e in _gaps(taken, len(text)):
        found += _bare_calls(text, s, e, known_tools)
    taken = [(s, e) for s, e, _ in found] + blocked
    for s, e in _gaps(taken, len(text)):
        found += functions_calls(text, s, e, known_tools)
    found.sort(key=lambda item: item[0])
    return (
        _remove_spans(text, [(s, e) for s, e, _ in found]),
        [replace(call, source=text[s:e]) for s, e, group in found for call in group],
    )
