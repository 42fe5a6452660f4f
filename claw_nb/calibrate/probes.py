"""The probe tasks calibration sends: small, fixed, and each testing one thing a session needs.

Every probe is one request whose right answer is a tool call: a single call, the next call after
two earlier ones, a call with long arguments (a file's content), and a call after an error
result. The earlier turns are written out in full (native `tool_calls` and `tool` messages), so
each format renders them its own way, as it would in a session.
"""

from __future__ import annotations

import json
from typing import Any

from claw_nb.records import record
from claw_nb.toolcalls import ToolCall, validate_arguments

SYSTEM = (
    "You are a coding assistant working in a project folder. Act with the tools: one tool call "
    "at a time. Do not explain; call the tool."
)


def _tool(name: str, description: str, **params: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": "string", "description": d} for k, d in params.items()},
                "required": list(params),
                "additionalProperties": False,
            },
        },
    }


TOOLS = [
    _tool("read_file", "Read a text file of the project.", path="file path, relative"),
    _tool(
        "write_file",
        "Create or overwrite a text file with the given content.",
        path="file path, relative",
        content="the whole new content of the file",
    ),
    _tool("run_command", "Run a shell command in the project folder.", command="the command"),
]
KNOWN_TOOLS = {spec["function"]["name"]: spec["function"] for spec in TOOLS}

_REPORT = "\n".join(
    f"- step {i}: measured {i * 37 % 101} items in batch {i}, status ok" for i in range(1, 31)
)


def _call(call_id: str, name: str, **arguments: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def _result(call_id: str, name: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": text}


@record(frozen=True)
class Probe:
    """One request (after the system prompt) whose right answer is a call."""

    name: str
    messages: tuple[dict[str, Any], ...]

    def request(self) -> list[dict[str, Any]]:
        return [{"role": "system", "content": SYSTEM}, *self.messages]


PROBES = (
    Probe("single", ({"role": "user", "content": "Show me what is in notes.txt."},)),
    Probe(
        "sequence",
        (
            {
                "role": "user",
                "content": "Create hello.py that prints hello, then README.md with one line "
                "about it, then run `python hello.py`.",
            },
            _call("c1", "write_file", path="hello.py", content='print("hello")\n'),
            _result("c1", "write_file", "wrote hello.py (1 line)"),
            _call("c2", "write_file", path="README.md", content="hello.py prints hello.\n"),
            _result("c2", "write_file", "wrote README.md (1 line)"),
        ),
    ),
    Probe(
        "long_arguments",
        (
            {
                "role": "user",
                "content": f"Save this report, exactly as it is, to report.md:\n\n{_REPORT}",
            },
        ),
    ),
    Probe(
        "after_error",
        (
            {"role": "user", "content": "Read the settings in config.yaml."},
            _call("c1", "read_file", path="config.yml"),
            _result(
                "c1",
                "read_file",
                "Error: no file 'config.yml'. Files here: config.yaml, notes.txt",
            ),
        ),
    ),
)


def valid_call(calls: list[ToolCall]) -> bool:
    """Whether a reply made at least one call and every call parsed, names a probe tool and
    has arguments that fit its schema."""
    if not calls:
        return False
    for call in calls:
        spec = KNOWN_TOOLS.get(call.name)
        if call.error or spec is None or call.arguments is None:
            return False
        if validate_arguments(spec["parameters"], call.arguments) is not None:
            return False
    return True
