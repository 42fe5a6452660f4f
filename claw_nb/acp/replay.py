"""A logged conversation as session updates: what `session/load` sends before it answers.

ACP asks an agent that loads a session to replay it, so the client can show the conversation it
is continuing: user messages, the agent's text, and each tool call with its result. Edits are
replayed without a diff: the file on disk already has the change, so a diff computed now would
be wrong. The system prompt and plan mode's note to the model are not the user's words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from acp.helpers import (
    start_tool_call,
    update_agent_message_text,
    update_tool_call,
    update_user_message_text,
)

from claw_nb.acp.tool_views import ClientPaths, acp_kind, locations, result_content, title
from claw_nb.tools.plan import PLAN_MODE_NOTE


def replay_updates(
    messages: list[dict[str, Any]],
    paths: ClientPaths,
    tool_kind: Callable[[str], str | None],
    call_ok: Callable[[str], bool | None],
) -> list[Any]:
    """The updates that show `messages` (OpenAI format) to the client, in order.

    `call_ok(call_id)` says whether a logged call worked (None: not known, shown as done)."""
    updates: list[Any] = []
    kinds: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        text = _text(message.get("content"))
        if role == "user":
            text = text.removesuffix(f"\n\n{PLAN_MODE_NOTE}")
            if text:
                updates.append(update_user_message_text(text))
        elif role == "assistant":
            if text:
                updates.append(update_agent_message_text(text))
            for spec in message.get("tool_calls") or []:
                function = spec.get("function") or {}
                name = str(function.get("name") or "")
                arguments = _arguments(function.get("arguments"))
                kind = kinds[spec["id"]] = acp_kind(name, tool_kind(name))
                start = start_tool_call(
                    spec["id"],
                    title(name, arguments),
                    kind=kind,
                    status="in_progress",
                    locations=locations(paths, name, arguments) or None,
                    raw_input=arguments,
                )
                updates.append(start)
        elif role == "tool" and message.get("tool_call_id") in kinds:
            call_id = message["tool_call_id"]
            ok = call_ok(call_id)
            updates.append(
                update_tool_call(
                    call_id,
                    status="failed" if ok is False else "completed",
                    content=[result_content(kinds[call_id], text)],
                )
            )
    return updates


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return json.dumps(content, ensure_ascii=False)


def _arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
