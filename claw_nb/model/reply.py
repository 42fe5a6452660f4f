"""What one model call produced (`ModelReply`), built the same way by every model path.

Native tool calls win; a reply without them is searched for calls written into its text in the
dialects local models use (`claw_nb.toolcalls`). Usage is the server's when it reported one,
else counted by claw_nb (`usage_source` says which). What the server says it read and reused
(`prefill_tokens`, `cached_tokens`) and its prefill and decode seconds come from OpenAI's
`usage.prompt_tokens_details.cached_tokens` (vLLM, llama-server, newer Ollama's /v1) and from
llama.cpp's `timings` (llama-server, and claw_nb's embedded server: `embedded_timings.py`);
they stay None when the server does not say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import field
from typing import Any

from claw_nb.records import record
from claw_nb.toolcalls import ToolCall, extract_text_tool_calls, from_native

RetryCallback = Callable[[int, float, str], None]


@record
class ModelReply:
    """What one model call produced, with the figures the log wants."""

    content: str
    tool_calls: list[ToolCall]
    native_tool_calls: bool
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    usage_source: str  # "server": the server reported it; "counted": claw_nb counted it
    latency_ms: float
    ttft_ms: float | None
    attempts: int
    streamed: bool
    cached_tokens: int | None = None
    prefill_tokens: int | None = None  # prompt tokens the server read (not served from its cache)
    prefill_s: float | None = None  # the server's time reading the prompt
    decode_s: float | None = None  # the server's time generating the reply
    cost_usd: float | None = None
    reasoning: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def build_reply(
    content: str,
    native: list[dict[str, Any]],
    finish_reason: str | None,
    known_tools: Collection[str] | None,
    *,
    latency_ms: float,
    ttft_ms: float | None,
    streamed: bool,
    params: dict[str, Any],
) -> ModelReply:
    """A reply from the text and native calls of one answer (usage still to be filled in)."""
    calls = from_native(native) if native else []
    if not calls:
        content, calls = extract_text_tool_calls(content, known_tools)
    else:
        content = content.strip()
    return ModelReply(
        content=content,
        tool_calls=calls,
        native_tool_calls=bool(native),
        finish_reason=finish_reason,
        prompt_tokens=0,
        completion_tokens=0,
        usage_source="counted",
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        attempts=1,
        streamed=streamed,
        params=dict(params),
    )


def whole_reply(
    content: str,
    native: list[dict[str, Any]],
    finish_reason: str | None,
    known_tools: Collection[str] | None,
    *,
    started: float,
    params: dict[str, Any],
    reasoning: str | None,
) -> ModelReply:
    """A reply that came in one piece (no stream): its latency since `started` (a
    `time.perf_counter()`), no time to a first token."""
    reply = build_reply(
        content,
        native,
        finish_reason,
        known_tools,
        latency_ms=(time.perf_counter() - started) * 1000,
        ttft_ms=None,
        streamed=False,
        params=params,
    )
    reply.reasoning = reasoning
    return reply


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def apply_server_usage(reply: ModelReply, usage: Any) -> None:
    """Take the usage the server reported (a dict from JSON, or LiteLLM's object)."""
    if not usage:
        return
    prompt = _field(usage, "prompt_tokens")
    completion = _field(usage, "completion_tokens")
    if prompt:
        reply.prompt_tokens = int(prompt)
        reply.completion_tokens = int(completion or 0)
        reply.usage_source = "server"
    details = _field(usage, "prompt_tokens_details")
    cached = _count(_field(details, "cached_tokens") if details else None)
    if cached is not None:
        reply.cached_tokens = cached
        if reply.usage_source == "server" and reply.prefill_tokens is None:
            reply.prefill_tokens = max(0, reply.prompt_tokens - cached)


def apply_server_timings(reply: ModelReply, timings: Any) -> None:
    """Take llama.cpp's `timings`: `prompt_n` tokens read, `cache_n` reused, `prompt_ms` and
    `predicted_ms`. They are more direct than a prefill derived from `cached_tokens`."""
    if not isinstance(timings, dict):
        return
    read, reused = _count(timings.get("prompt_n")), _count(timings.get("cache_n"))
    if read is not None:
        reply.prefill_tokens = read
    if reused is not None and reply.cached_tokens is None:
        reply.cached_tokens = reused
    reply.prefill_s = _seconds(timings.get("prompt_ms"), reply.prefill_s)
    reply.decode_s = _seconds(timings.get("predicted_ms"), reply.decode_s)


def _count(value: Any) -> int | None:
    """A token count a server sent; None for a missing, negative (llama.cpp: unset) or bad one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if 0 <= value < float("inf") else None


def _seconds(ms: Any, default: float | None) -> float | None:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms < float("inf"):
        return default
    return ms / 1000.0
