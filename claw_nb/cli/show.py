"""`claw-nb show ID`: replay a logged session, each subagent's nested under its `task` call."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from claw_nb.textsafe import show

NEST = "  | "  # the margin of a subagent's lines, once per level


def print_session(db_path: Path, session_id: str, out: TextIO, margin: str = "") -> None:
    """The session's messages (the system prompt left out); after a `task` call's result, the
    subagent session it ran, one margin deeper."""
    from claw_nb.log.queries import load_child_sessions, load_messages

    children = load_child_sessions(db_path, session_id)

    def line(text: str) -> None:
        for part in text.splitlines() or [""]:
            out.write(f"{margin}{part}\n")

    for message in load_messages(db_path, session_id):
        role = message["role"]
        if role == "system":
            continue
        content = message.get("content") or ""
        if role == "tool":
            line(f"[tool result {message.get('name', '')}]")
            line("  " + "\n  ".join(show(str(content)).splitlines()[:10]))
            for child_id, agent_name in children.get(str(message.get("tool_call_id")), []):
                line(f"  [subagent {agent_name or 'general-purpose'}: session {child_id}]")
                print_session(db_path, child_id, out, margin + NEST)
            continue
        line(f"[{role}]")
        if content:
            line(show(str(content)))
        for call in message.get("tool_calls") or []:
            line(show(f"  -> {call['function']['name']} {call['function']['arguments']}"))
