"""Arguments checked against a tool's JSON schema, after coercing what local models send as strings."""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any

from claw_nb.toolcalls.arguments import json_type, loads_lenient, not_object_error, short_json
from claw_nb.toolcalls.plain_schema import plainly_valid


def schema_types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    return types + [
        t for sub in [*schema.get("anyOf", []), *schema.get("oneOf", [])] for t in schema_types(sub)
    ]


_INT = re.compile(r"[-+]?\d+")
_NO = object()
_KIND_ORDER = ("integer", "number", "boolean", "null", "array", "object")


def _matches(kind: str, value: Any) -> bool:
    actual = json_type(value)
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
            value = loads_lenient(text)[0]
        except ValueError:
            return _NO
        return value if json_type(value) == kind else _NO
    return _NO


def _coerce_value(schema: Any, value: Any) -> Any:
    types = schema_types(schema)
    if isinstance(value, dict) and "object" in types:
        return coerce_arguments(schema, value)
    if isinstance(value, list) and "array" in types:
        items = schema.get("items")
        return [_coerce_value(items, v) for v in value] if isinstance(items, Mapping) else value
    if (
        isinstance(value, float)
        and value.is_integer()
        and "integer" in types
        and "number" not in types
    ):
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
        return [
            "missing required " + noun.format(name)
            for name in err.validator_value
            if name not in err.instance
        ]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties") or {}
        patterns = err.schema.get("patternProperties") or {}
        return [
            "unknown " + noun.format(key)
            for key in err.instance
            if key not in known and not any(re.search(p, key) for p in patterns)
        ]
    if err.validator == "type":
        wanted = err.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return [
            f"{where} must be {wanted}, got {json_type(err.instance)} {short_json(err.instance)}"
        ]
    if err.validator == "enum":
        options = ", ".join(short_json(v) for v in err.validator_value)
        return [f"{where} must be one of {options}; got {short_json(err.instance)}"]
    return [f"{where}: {err.message}"]


# jsonschema imports rfc3987_syntax for its "iri" format when it is installed (JupyterLab's
# dependencies bring it): ~2-5 s building a parser, for a format check claw_nb never asks for.
_UNUSED_FORMAT_MODULES = ("rfc3987_syntax",)
_jsonschema_lock = threading.Lock()


def import_jsonschema() -> Any:
    """`jsonschema`, imported without the format modules claw_nb does not use. They are kept
    out only while jsonschema loads: a later `import rfc3987_syntax` of the user's works."""
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    with _jsonschema_lock:
        hidden = [m for m in _UNUSED_FORMAT_MODULES if m not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # import fails at once
        try:
            import jsonschema
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    return jsonschema


def validate_arguments(schema: dict, arguments: dict) -> str | None:
    """None if the arguments (after `coerce_arguments`) fit the tool's parameters schema, else one
    message listing every problem, so the model can fix them all in a single retry."""
    if not isinstance(arguments, dict):
        return not_object_error(arguments)
    coerced = coerce_arguments(schema, arguments)
    if plainly_valid(schema, coerced):
        return None  # jsonschema is imported only for a call that may not fit
    import_jsonschema()
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    validator = validator_for(schema, default=Draft202012Validator)(schema)
    errors = sorted(
        validator.iter_errors(coerced),
        key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)),
    )
    problems = list(dict.fromkeys(p for err in errors for p in _describe(err)))
    if not problems:
        return None
    required = set(schema.get("required") or [])
    params = [
        f"{key} ({'/'.join(schema_types(prop)) or 'any'}{', required' if key in required else ''})"
        for key, prop in (schema.get("properties") or {}).items()
    ]
    signature = f"\nThis tool's parameters: {', '.join(params)}." if params else ""
    return "Invalid arguments:\n" + "\n".join(f"- {p}" for p in problems) + signature
