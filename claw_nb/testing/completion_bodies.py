"""The JSON the scripted server sends: OpenAI error objects, chat completions and stream chunks.

Pure data, kept apart from the HTTP handler that writes it, so the wire format can be read (and
changed) in one place. Ids come from the server that owns the script, in the order a real
completion would take them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from claw_nb.testing.replies import (
    ARGUMENT_CHUNK,
    CONTENT_CHUNK,
    MODEL_NAME,
    TextReply,
    ToolCallsReply,
    pieces,
    usage_for,
)


class IdSource(Protocol):
    """Where the ids of tool calls and completions come from (`ScriptedServer`)."""

    def new_call_id(self) -> str: ...
    def new_completion_id(self) -> str: ...


def error_body(message: str, type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object, the body clients parse a failed call's message from."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def assistant_message(r: TextReply | ToolCallsReply, ids: IdSource) -> dict[str, Any]:
    """The reply as the assistant message of a completion (call ids filled in when unset)."""
    if isinstance(r, TextReply):
        msg: dict[str, Any] = {"role": "assistant", "content": r.content}
        if r.reasoning is not None:
            msg["reasoning_content"] = r.reasoning
        return msg
    return {
        "role": "assistant",
        "content": r.content,
        "tool_calls": [
            {
                "id": c.id or ids.new_call_id(),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments_json()},
            }
            for c in r.calls
        ],
    }


def envelope(req: dict, obj: str, ids: IdSource) -> dict[str, Any]:
    """The fields every completion or chunk carries: id, object, created, model."""
    return {
        "id": ids.new_completion_id(),
        "object": obj,
        "created": int(time.time()),
        "model": req.get("model") or MODEL_NAME,
        "system_fingerprint": "scripted",
    }


def completion(req: dict, r: TextReply | ToolCallsReply, ids: IdSource) -> dict[str, Any]:
    """A whole (non-streamed) chat completion, with usage unless the reply leaves it out."""
    msg = assistant_message(r, ids)
    resp = envelope(req, "chat.completion", ids)
    resp["choices"] = [
        {"index": 0, "message": msg, "finish_reason": r.finish_reason, "logprobs": None}
    ]
    usage = usage_for(r.usage, req, {k: v for k, v in msg.items() if k != "role"})
    if usage is not None:
        resp["usage"] = usage
    if r.timings is not None:
        resp["timings"] = dict(r.timings)
    return resp


def stream_chunks(req: dict, r: TextReply | ToolCallsReply, ids: IdSource) -> Iterable[dict]:
    """The reply as `chat.completion.chunk` objects: the role, reasoning and content pieces,
    each tool call's name then its argument fragments, the finish reason, then usage; the last
    chunk carries `timings` when the reply has them (as llama.cpp's server sends them)."""
    base = envelope(req, "chat.completion.chunk", ids)

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    msg = assistant_message(r, ids)
    content = msg.get("content")
    yield chunk({"role": "assistant", "content": ""})
    reasoning = msg.get("reasoning_content")
    if reasoning:
        for piece in pieces(reasoning, CONTENT_CHUNK):
            yield chunk({"reasoning_content": piece})
    if content:
        for piece in pieces(content, CONTENT_CHUNK):
            yield chunk({"content": piece})
    for i, tc in enumerate(msg.get("tool_calls") or []):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": tc["id"],
                        "type": "function",
                        "function": {"name": tc["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        for frag in pieces(tc["function"]["arguments"], ARGUMENT_CHUNK):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": frag}}]})
    timings = {"timings": dict(r.timings)} if r.timings is not None else {}
    usage = usage_for(r.usage, req, {k: v for k, v in msg.items() if k != "role"})
    yield {**chunk({}, r.finish_reason), **({} if usage is not None else timings)}
    if usage is not None:
        yield {**base, "choices": [], "usage": usage, **timings}
