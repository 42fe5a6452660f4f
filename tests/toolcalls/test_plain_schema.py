"""The quick yes before jsonschema: it never accepts what jsonschema refuses, it accepts the
calls models usually make, and a session of valid calls never imports jsonschema."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from claw_nb.toolcalls.plain_schema import plainly_valid
from claw_nb.toolcalls.schema import import_jsonschema
from claw_nb.tools import default_tools

ROOT = Path(__file__).resolve().parents[2]
VALUES = ["x", "", 0, 1, -3, 1.0, 2.5, True, False, None, [], [1], ["a"], {}, {"a": 1}]
EXTRA_SCHEMAS = [
    {"enum": [1, "a", None]},
    {"type": "integer", "enum": [0, 1]},
    {"type": ["string", "null"]},
    {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
    {"type": "array", "items": {"type": "object", "required": ["a"]}},
    {"type": "object", "additionalProperties": {"type": "integer"}},
    {"type": "object", "properties": {"a": {"type": "number"}}, "additionalProperties": False},
    {"type": "string", "minLength": 2},  # a keyword it does not check: always jsonschema's
    {"type": "string", "format": "email"},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"},
]


def _jsonschema_accepts(schema, instance) -> bool:
    jsonschema = import_jsonschema()
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return validator(schema).is_valid(instance)


def _tool_schemas() -> list[dict]:
    return [spec["function"]["parameters"] for spec in default_tools().specs()]


def _candidates(schema: dict, rng: random.Random, n: int) -> list[dict]:
    names = [*schema.get("properties", {}), "unknown"]
    out = []
    for _ in range(n):
        chosen = rng.sample(names, rng.randint(0, len(names)))
        out.append({name: rng.choice(VALUES) for name in chosen})
    return out


@pytest.mark.parametrize("schema", _tool_schemas(), ids=lambda s: ",".join(s["properties"]))
def test_a_yes_is_always_a_yes_of_jsonschema_for_the_tools(schema):
    rng = random.Random(23)
    for arguments in _candidates(schema, rng, 400):
        if plainly_valid(schema, arguments):
            assert _jsonschema_accepts(schema, arguments), arguments


@pytest.mark.parametrize("schema", EXTRA_SCHEMAS, ids=str)
def test_a_yes_is_always_a_yes_of_jsonschema_for_other_keywords(schema):
    for value in [*VALUES, *itertools.product(["a", 1], repeat=2)]:
        value = list(value) if isinstance(value, tuple) else value
        if plainly_valid(schema, value):
            assert _jsonschema_accepts(schema, value), value


def test_keywords_it_does_not_know_go_to_jsonschema():
    assert not plainly_valid({"type": "string", "minLength": 2}, "a")
    assert not plainly_valid({"type": "integer"}, 3.0)  # an integer to JSON Schema: ask it
    assert not plainly_valid({"enum": [1]}, True)  # True == 1 in Python, not in JSON Schema


def test_the_usual_calls_get_the_quick_yes():
    specs = {s["function"]["name"]: s["function"]["parameters"] for s in default_tools().specs()}
    assert plainly_valid(specs["read_file"], {"path": "a.py"})
    assert plainly_valid(specs["edit_file"], {"path": "a", "old_string": "x", "new_string": "y"})
    assert plainly_valid(specs["run_command"], {"command": "python -c 'print(1)'"})


def test_valid_calls_do_not_import_jsonschema_and_an_invalid_one_does():
    code = (
        "import sys\n"
        "from claw_nb.tools import default_tools\n"
        "from claw_nb.toolcalls.schema import validate_arguments\n"
        "specs = {s['function']['name']: s['function']['parameters'] "
        "for s in default_tools().specs()}\n"
        "assert validate_arguments(specs['read_file'], {'path': 'a.py', 'offset': '3'}) is None\n"
        "print('jsonschema' in sys.modules)\n"
        "assert 'missing required' in validate_arguments(specs['read_file'], {})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
