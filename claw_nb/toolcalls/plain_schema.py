"""A quick yes for arguments that plainly fit a plain tool schema, so a session whose calls are
valid never imports jsonschema (~0.3 s of CPU and a few MiB, paid in every process before).

:func:`plainly_valid` answers True only when the arguments certainly fit: the schema uses only
``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum`` and
``anyOf`` (plus annotations), which is what `claw_nb.tools.base` derives from type hints. For
anything else, or any doubt, it answers False and `validate_arguments` asks jsonschema, which
also words the problems for the model: a quick no never exists.
"""

from __future__ import annotations

from typing import Any

# Keywords that never make an instance invalid.
_ANNOTATIONS = frozenset(
    {"description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
_CHECKED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "anyOf"}
)


def plainly_valid(schema: Any, instance: Any) -> bool:
    """True when ``instance`` certainly fits ``schema`` (False: ask a full validator)."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict) or not schema.keys() <= _CHECKED | _ANNOTATIONS:
        return False
    return (
        _type_fits(schema.get("type"), instance)
        and _enum_fits(schema, instance)
        and _object_fits(schema, instance)
        and _array_fits(schema, instance)
        and _any_of_fits(schema, instance)
    )


def _is_type(kind: Any, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "integer":  # 1.0 is an integer to JSON Schema too; left to the full validator
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _type_fits(declared: Any, value: Any) -> bool:
    if declared is None:
        return True
    kinds = [declared] if isinstance(declared, str) else declared
    return isinstance(kinds, list) and any(_is_type(k, value) for k in kinds)


def _enum_fits(schema: dict, value: Any) -> bool:
    if "enum" not in schema:
        return True
    options = schema["enum"]
    # Same type and equal: JSON Schema's equality differs from Python's for 1 / 1.0 / True.
    return isinstance(options, list) and any(
        type(option) is type(value) and option == value
        for option in options
        if isinstance(option, (str, int, float, bool, type(None)))
    )


def _object_fits(schema: dict, value: Any) -> bool:
    if not isinstance(value, dict):
        return True
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(required, list):
        return False
    if any(name not in value for name in required):
        return False
    for key, item in value.items():
        sub = properties[key] if key in properties else extra
        if sub is False or not plainly_valid(sub, item):
            return False
    return True


def _array_fits(schema: dict, value: Any) -> bool:
    if not isinstance(value, list) or "items" not in schema:
        return True
    return all(plainly_valid(schema["items"], item) for item in value)


def _any_of_fits(schema: dict, value: Any) -> bool:
    if "anyOf" not in schema:
        return True
    branches = schema["anyOf"]
    return isinstance(branches, list) and any(plainly_valid(b, value) for b in branches)
