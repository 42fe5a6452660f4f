"""Reply functions for the scripted server that behave like two kinds of model server."""

from __future__ import annotations

import json

from claw_nb.testing import call, text, tool_calls

# The call each probe asks for, by a word of its last user or tool message.
RIGHT_CALLS = {
    "notes.txt": ("read_file", {"path": "notes.txt"}),
    "hello.py": ("run_command", {"command": "python hello.py"}),
    "report.md": ("write_file", {"path": "report.md", "content": "- step 1 ...\n" * 30}),
    "config.yaml": ("read_file", {"path": "config.yaml"}),
}


def right_call(body: dict) -> tuple[str, dict]:
    """The call a capable model makes for this request: read from its last messages."""
    recent = " ".join(str(m.get("content") or "") for m in body["messages"][-3:])
    for word, found in RIGHT_CALLS.items():
        if word in recent:
            return found
    return RIGHT_CALLS["notes.txt"]


def native_server(body: dict):
    """A server with a tool parser: native `tool_calls` when tools are on the wire; without
    them its model, never shown the tools, answers in prose."""
    if body.get("tools"):
        name, arguments = right_call(body)
        return tool_calls(call(name, arguments))
    return text("I would read the file and tell you what it says.")


def text_only_server(body: dict):
    """A server whose template ignores `tools`: its model writes calls as Hermes text, and only
    when the prompt describes the tools; told nothing, it answers in prose."""
    system = str(body["messages"][0].get("content") or "")
    if "<tools>" not in system:
        return text("Sure, here is what I would do: open the file and read it.")
    name, arguments = right_call(body)
    return text(f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>")
