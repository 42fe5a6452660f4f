"""Scripted replies: what the scripted server (or the in-memory ScriptedModel) answers next.

A reply is one of:

* ``text(...)``        -- a normal assistant message
* ``tool_calls(...)``  -- an assistant message with tool calls, built from ``call(...)``
* ``error(...)``       -- an HTTP error status with an OpenAI-style JSON error body
* ``cut_stream(...)``  -- a stream that breaks midway (or a connection closed with no response)
* ``delay(s, reply)``  -- wait, then send ``reply``
* ``hang()``           -- never answer (until the server stops or the client goes away)
* ``hold(gate, reply)`` -- say nothing until the test sets ``gate`` (a model reading a long
  prompt), then send ``reply``
* a plain ``str``      -- shorthand for ``text(str)``
* a ``dict``           -- the JSON form read by :func:`reply_from_dict`
* a callable ``fn(request_body) -> reply`` -- decided at request time

Also the wire-format helpers both use (rough usage counts, chunking). Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import field
from http import HTTPStatus
from typing import Any

from claw_nb.records import record

MODEL_NAME = "scripted"
NO_REPLY_MESSAGE = "scripted server: no reply left"

#: Characters per content delta when streaming.
CONTENT_CHUNK = 8
#: Characters per tool-call argument fragment when streaming.
ARGUMENT_CHUNK = 6


UsageSpec = bool | dict | None


@record
class TextReply:
    content: str
    usage: UsageSpec = True
    finish_reason: str = "stop"
    reasoning: str | None = None
    timings: dict | None = None  # llama.cpp's `timings` (prompt_n, cache_n, ...), sent as given


@record
class ToolCall:
    name: str
    arguments: dict | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments string as sent on the wire (a str is sent verbatim)."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@record
class ToolCallsReply:
    calls: list[ToolCall]
    content: str | None = None
    usage: UsageSpec = True
    finish_reason: str = "tool_calls"
    timings: dict | None = None


@record
class ErrorReply:
    status: int
    message: str | None = None
    headers: dict[str, str] | None = None
    body: Any = None  # dict -> JSON, str/bytes -> verbatim, None -> OpenAI-style error object
    code: str | None = None
    type: str | None = None


@record
class CutStreamReply:
    content_prefix: str = ""


@record
class DelayReply:
    seconds: float
    reply: Any


@record
class HangReply:
    pass


@record
class HoldReply:
    gate: Any  # a threading.Event the test sets to release the reply
    reply: Any


@record
class EndlessStreamReply:
    piece: str = "la "


Reply = (
    TextReply
    | ToolCallsReply
    | ErrorReply
    | CutStreamReply
    | DelayReply
    | HangReply
    | HoldReply
    | EndlessStreamReply
    | str
    | dict
    | Callable[[dict], Any]
)


def text(
    content: str,
    usage: UsageSpec = True,
    finish_reason: str = "stop",
    reasoning: str | None = None,
    timings: dict | None = None,
) -> TextReply:
    """A plain assistant message.

    ``usage=True`` computes rough token counts (characters / 4), a dict is sent as given and
    ``None`` leaves the ``usage`` field out entirely. ``reasoning`` is sent as
    ``reasoning_content`` (the vLLM / DeepSeek convention). ``timings`` is sent as llama.cpp's
    server does: beside ``usage`` in a whole reply, on the last chunk of a stream.
    """
    return TextReply(
        content=content,
        usage=usage,
        finish_reason=finish_reason,
        reasoning=reasoning,
        timings=timings,
    )


def call(name: str, arguments: dict | str | None = None, id: str | None = None) -> ToolCall:
    """One tool call. A ``str`` ``arguments`` is sent verbatim (it may be malformed JSON)."""
    return ToolCall(name=name, arguments={} if arguments is None else arguments, id=id)


def tool_calls(
    *calls: ToolCall,
    content: str | None = None,
    usage: UsageSpec = True,
    finish_reason: str = "tool_calls",
    timings: dict | None = None,
) -> ToolCallsReply:
    """An assistant message carrying one or more tool calls (``timings`` as for `text`)."""
    if not calls:
        raise ValueError("tool_calls() needs at least one call(...)")
    return ToolCallsReply(
        calls=list(calls),
        content=content,
        usage=usage,
        finish_reason=finish_reason,
        timings=timings,
    )


def error(
    status: int,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    code: str | None = None,
    type: str | None = None,
) -> ErrorReply:
    """An HTTP error. E.g. ``error(429, headers={"Retry-After": "0"})`` or
    ``error(400, message="...maximum context length...", code="context_length_exceeded")``."""
    return ErrorReply(
        status=int(status), message=message, headers=headers, body=body, code=code, type=type
    )


def cut_stream(content_prefix: str = "") -> CutStreamReply:
    """Break the connection midway: a streaming request gets a few chunks of
    ``content_prefix`` and then the socket closes without ``[DONE]``; a non-streaming request
    gets the socket closed without any response."""
    return CutStreamReply(content_prefix=content_prefix)


def delay(seconds: float, reply: Any) -> DelayReply:
    """Wait ``seconds`` before sending ``reply``."""
    return DelayReply(seconds=float(seconds), reply=reply)


def hang() -> HangReply:
    """Never answer; the connection is dropped when the server stops or the client leaves."""
    return HangReply()


def hold(gate: Any, reply: Any = "released") -> HoldReply:
    """Send nothing (no status line, no byte) until ``gate`` (a ``threading.Event``) is set,
    then ``reply``: a local model still reading a long prompt. The wait ends early when the
    client leaves (the server then sets ``client_left``) or the server stops."""
    return HoldReply(gate=gate, reply=reply)


def endless_stream(piece: str = "la ") -> EndlessStreamReply:
    """A model stuck in a loop: a stream that sends ``piece`` and a count as one content chunk
    after another and never finishes, until the client closes the connection (the server then sets
    ``client_closed_stream``) or the server stops. A non-streaming request gets HTTP 400."""
    return EndlessStreamReply(piece=piece or "la ")


def reply_from_dict(d: Any) -> Any:
    """Build a reply from its JSON form, as used by ``--script`` files.

    Forms: ``"hi"`` / ``{"text": "hi", "usage": ..., "finish_reason": ..., "reasoning": ...,
    "timings": ...}``,
    ``{"tool_calls": [{"name": ..., "arguments": {...} | "raw", "id": ...}], "content": ...}``,
    ``{"error": 500, "message": ..., "headers": {...}, "body": ..., "code": ..., "type": ...}``,
    ``{"cut_stream": "prefix"}``, ``{"delay": 1.5, "reply": {...}}``, ``{"hang": true}``,
    ``{"endless_stream": "la "}``.
    """
    if isinstance(d, str):
        return text(d)
    if not isinstance(d, dict):
        raise TypeError(f"a scripted reply must be a string or an object, not {d!r}")
    if "text" in d:
        return text(
            d["text"],
            usage=d.get("usage", True),
            finish_reason=d.get("finish_reason", "stop"),
            reasoning=d.get("reasoning"),
            timings=d.get("timings"),
        )
    if "tool_calls" in d:
        calls = []
        for c in d["tool_calls"]:
            if not isinstance(c, dict) or "name" not in c:
                raise ValueError(f"a tool call needs a name: {c!r}")
            calls.append(call(c["name"], c.get("arguments", {}), id=c.get("id")))
        return tool_calls(
            *calls,
            content=d.get("content"),
            usage=d.get("usage", True),
            finish_reason=d.get("finish_reason", "tool_calls"),
            timings=d.get("timings"),
        )
    if "error" in d:
        return error(
            int(d["error"]),
            message=d.get("message"),
            headers=d.get("headers"),
            body=d.get("body"),
            code=d.get("code"),
            type=d.get("type"),
        )
    if "cut_stream" in d:
        prefix = d["cut_stream"]
        return cut_stream(prefix if isinstance(prefix, str) else "")
    if "delay" in d:
        return delay(float(d["delay"]), reply_from_dict(d.get("reply", "")))
    if "hang" in d:
        return hang()
    if "endless_stream" in d:
        piece = d["endless_stream"]
        return endless_stream(piece if isinstance(piece, str) else "la ")
    raise ValueError(f"unknown scripted reply form: {d!r}")


def rough_tokens(obj: Any) -> int:
    if obj is None:
        return 0
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return max(1, len(s) // 4)


def usage_for(spec: UsageSpec, request: dict, completion: Any) -> dict | None:
    if spec is None or spec is False:
        return None
    if isinstance(spec, dict):
        u = dict(spec)
        if "total_tokens" not in u and "prompt_tokens" in u and "completion_tokens" in u:
            u["total_tokens"] = u["prompt_tokens"] + u["completion_tokens"]
        return u
    prompt = rough_tokens([request.get("messages", []), request.get("tools")])
    comp = rough_tokens(completion)
    return {"prompt_tokens": prompt, "completion_tokens": comp, "total_tokens": prompt + comp}


def pieces(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def default_error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
