"""The LiteLLM path: one chat completion for any provider LiteLLM reaches, streamed or not.

Retries, time bounds and usage counting are shared with the direct path (`RetryingModel`); this
module only makes one LiteLLM call and reads its answer. LiteLLM is imported on the first call.
The call runs on a helper thread (`claw_nb.model.abandonable`), so a stop ends it at once, even
while the server is silent, and shuts the socket it is reading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from claw_nb.errors import ModelInterrupted
from claw_nb.model.abandonable import AbandonableCalls, Abandoned
from claw_nb.model.litellm_import import import_in_background, litellm
from claw_nb.model.reply import (
    ModelReply,
    RetryCallback,
    apply_server_timings,
    apply_server_usage,
    whole_reply,
)
from claw_nb.model.retries import RetryingModel
from claw_nb.model.streamed_reply import StreamedReply, show_whole_reply
from claw_nb.model.tool_progress import ToolProgressTracker
from claw_nb.model.visible_text import TextCallback

__all__ = ["LiteLLMModel", "ModelReply", "RetryCallback"]


class LiteLLMModel(RetryingModel):
    """Chat completions for any model LiteLLM reaches, with bounded retries."""

    backend = "litellm"

    def __init__(self, config, sleep=time.sleep) -> None:
        super().__init__(config, sleep)
        import_in_background()  # ~3 s of imports, overlapped with the rest of the set-up
        self._calls = AbandonableCalls("claw-litellm-call")

    def abort_request(self) -> None:
        """A stop: stop waiting for LiteLLM and shut the socket the call is reading."""
        self._calls.abort()

    def reset_abort(self) -> None:
        self._calls.reset()

    def _completion(self, kwargs: dict[str, Any]) -> Any:
        """`litellm.completion(**kwargs)` on the helper thread; a stop abandons it."""
        closer = _close_stream if kwargs.get("stream") else None
        try:
            return self._calls.run(lambda: litellm().completion(**kwargs), on_abandon=closer)
        except Abandoned:
            raise ModelInterrupted(
                "stopped by the user while waiting for the model's reply"
            ) from None

    def _kwargs(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], deadline: float
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "timeout": self.read_timeout(deadline),
            "max_retries": 0,  # retries are ours, counted and logged
            "_skip_mcp_handler": True,
            "drop_params": True,  # per call: never change the user's global litellm settings
            **self.request_params(tools),
        }
        if tools:
            kwargs["tools"] = tools
        if self.grammar:
            kwargs["extra_body"] = {"grammar": self.grammar}
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self.config.api_key:
            kwargs["api_key"] = self.config.api_key
        return kwargs

    def _call_once(self, messages, tools, on_text, started, known_tools, deadline) -> ModelReply:
        response = self._completion(self._kwargs(messages, tools, deadline))
        choice = response.choices[0]
        message = choice.message
        reply = whole_reply(
            message.content or "",
            [_as_dict(tc) for tc in (message.tool_calls or [])],
            choice.finish_reason,
            known_tools,
            started=started,
            params=self.request_params(tools),
            reasoning=getattr(message, "reasoning_content", None),
        )
        apply_server_usage(reply, getattr(response, "usage", None))
        # llama.cpp's `timings` survive in whole replies (an extra attribute); LiteLLM 1.106
        # drops them from streamed chunks, and passes none of Ollama's cache counts or durations
        apply_server_timings(reply, getattr(response, "timings", None))
        reply.cost_usd = _cost(response)
        show_whole_reply(on_text, reply.content)
        return reply

    def _call_streaming(
        self,
        messages,
        tools,
        on_text: TextCallback | None,
        started: float,
        known_tools,
        should_stop: Callable[[], bool] | None,
        deadline: float,
        progress: ToolProgressTracker | None = None,
    ) -> ModelReply:
        kwargs = self._kwargs(messages, tools, deadline)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        stream = self._completion(kwargs)
        streamed = StreamedReply(self.config, on_text, started, progress)
        usage = None
        try:
            with self._calls.watching():  # a stop shuts the socket this loop reads
                for chunk in stream:
                    self.check_stream(should_stop, deadline)
                    if getattr(chunk, "usage", None):
                        usage = chunk.usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    streamed.add(
                        getattr(delta, "content", None),
                        getattr(delta, "reasoning_content", None),
                        getattr(delta, "tool_calls", None),
                        choice.finish_reason,
                    )
        finally:
            _close_stream(stream)
        reply = streamed.reply(known_tools, self.request_params(tools))
        if _server_sent_usage(stream):
            apply_server_usage(reply, usage)  # else LiteLLM's own estimate: we count instead
        reply.cost_usd = 0.0 if self.config.is_ollama else None
        return reply


def _server_sent_usage(stream: Any) -> bool:
    """Whether usage came from the server: LiteLLM adds an estimate of its own to the last
    chunk when the server sent none (without the tool schemas), which is not the server's."""
    chunks = getattr(stream, "chunks", None)
    if chunks is None:
        return True  # an older LiteLLM: cannot tell, trust it as before
    return any(getattr(chunk, "usage", None) for chunk in chunks)


def _as_dict(tool_call: Any) -> dict[str, Any]:
    if isinstance(tool_call, dict):
        return tool_call
    function = tool_call.function
    return {
        "id": getattr(tool_call, "id", None),
        "type": "function",
        "function": {"name": function.name, "arguments": function.arguments},
    }


def _cost(response: Any) -> float | None:
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return float(cost) if cost is not None else None


def _close_stream(stream: Any) -> None:
    """Close the HTTP response behind a stream: a leftover one can deadlock httpx's pool."""
    for path in (("completion_stream", "response"), ("completion_stream", "streaming_response")):
        obj = stream
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001, S110 - already closed or half-broken: nothing to do
                pass
