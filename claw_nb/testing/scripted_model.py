"""An in-memory model that replays scripted replies: fast tests of the loop, no HTTP.

It takes the same replies as the scripted server (`text`, `tool_calls`, `error`, `cut_stream`,
`delay`, `hang`, `hold`, strings, dicts, callables) and answers through the same reply builder as the
real model paths, so text-dialect calls are parsed and usage is filled in (and, given
`on_tool_progress`, a call's progress is reported as a stream in the server's chunk sizes would
report it). Transient errors (429, 5xx, a cut stream) are "retried" by taking the next reply, as
the real retry loop would; other errors raise the `ModelError` the real path would raise. Use the scripted server where a
test is about HTTP, streaming or LiteLLM; use this where it is about what the loop does.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from claw_nb.config import ClawConfig
from claw_nb.errors import ModelError, ModelInterrupted, ModelTimeout
from claw_nb.model.failures import HTTPStatusFailure, classify_failure
from claw_nb.model.reply import ModelReply, whole_reply
from claw_nb.model.tool_progress import ToolProgressCallback, ToolProgressTracker
from claw_nb.model.visible_text import VisibleText
from claw_nb.testing.replies import (
    ARGUMENT_CHUNK,
    CONTENT_CHUNK,
    MODEL_NAME,
    NO_REPLY_MESSAGE,
    CutStreamReply,
    DelayReply,
    ErrorReply,
    HangReply,
    HoldReply,
    TextReply,
    ToolCallsReply,
    pieces,
    reply_from_dict,
    rough_tokens,
)
from claw_nb.toolcalls import StreamingToolCallAccumulator

MAX_NESTING = 20


class ScriptedModel:
    """A `claw_nb.protocols.Model` that answers from a script, in order."""

    def __init__(
        self,
        replies: list | None = None,
        *,
        name: str = f"scripted/{MODEL_NAME}",
        max_retries: int = 4,
        default: Any = None,
    ) -> None:
        self.name = name
        self.max_retries = max_retries
        self.default = default
        self._script: deque = deque(replies or [])
        self.requests: list[dict[str, Any]] = []  # what each call was given (deep copies)

    def queue(self, *replies: Any) -> ScriptedModel:
        self._script.extend(replies)
        return self

    @property
    def remaining(self) -> int:
        return len(self._script)

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: Callable[[str], None] | None = None,
        on_retry: Callable[[int, float, str], None] | None = None,
        known_tools: dict[str, Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_tool_progress: ToolProgressCallback | None = None,
    ) -> ModelReply:
        started = time.perf_counter()
        request = {"model": self.name, "messages": copy.deepcopy(messages), "tools": tools}
        attempts = 0
        while True:
            attempts += 1
            self.requests.append(request)
            reply = self._resolve(self._next(), request, should_stop=should_stop)
            if isinstance(reply, (TextReply, ToolCallsReply)):
                break
            why = self._failure(reply)
            if attempts > self.max_retries:
                raise ModelError(f"model call failed after {attempts} attempts: {why}")
            if on_retry is not None:
                on_retry(attempts, 0.0, why)
        content = reply.content or ""
        native = []
        if isinstance(reply, ToolCallsReply):
            native = [
                {
                    "id": call.id or f"call_scripted_{len(self.requests)}_{n}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for n, call in enumerate(reply.calls)
            ]
        if on_tool_progress is not None:
            _report_progress(ToolProgressTracker(on_tool_progress), content, native)
        result = whole_reply(
            content,
            native,
            reply.finish_reason,
            known_tools,
            started=started,
            params={},
            reasoning=getattr(reply, "reasoning", None),
        )
        result.attempts = attempts
        result.prompt_tokens = rough_tokens([messages, tools])
        result.completion_tokens = rough_tokens(
            content + "".join(c["function"]["arguments"] for c in native)
        )
        result.usage_source = "server" if reply.usage else "counted"
        if on_text is not None and result.content:
            on_text(result.content)
        return result

    def _next(self) -> Any:
        if self._script:
            return self._script.popleft()
        if self.default is not None:
            return self.default
        raise ModelError(NO_REPLY_MESSAGE)

    def _resolve(
        self,
        reply: Any,
        request: dict[str, Any],
        depth: int = 0,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        """Callables, strings, dicts, delays and holds down to one concrete reply."""
        if depth > MAX_NESTING:
            raise ModelError("scripted model: reply functions nested too deeply")
        if callable(reply) and not isinstance(reply, type):
            return self._resolve(reply(request), request, depth + 1, should_stop)
        if isinstance(reply, (str, dict)):
            return self._resolve(reply_from_dict(reply), request, depth + 1, should_stop)
        if isinstance(reply, DelayReply):
            time.sleep(reply.seconds)
            return self._resolve(reply.reply, request, depth + 1, should_stop)
        if isinstance(reply, HoldReply):  # silent until released; a stop ends the wait
            while not reply.gate.wait(0.02):
                if should_stop is not None and should_stop():
                    raise ModelInterrupted("stopped by the user while waiting for the model")
            return self._resolve(reply.reply, request, depth + 1, should_stop)
        return reply

    def _failure(self, reply: Any) -> str:
        """Why a retry is due; raises the error the real path raises for a fatal reply."""
        if isinstance(reply, CutStreamReply):
            return "the connection was cut"
        if isinstance(reply, HangReply):
            raise ModelTimeout("the scripted model hangs (hang()): a real server would time out")
        if isinstance(reply, ErrorReply):
            failure = HTTPStatusFailure(reply.status, reply.message or f"HTTP {reply.status}")
            fatal = classify_failure(failure, ClawConfig(model=self.name))
            if fatal is not None:
                raise fatal
            return str(failure)
        raise ModelError(f"scripted model: not a reply: {reply!r}")


def _report_progress(tracker: ToolProgressTracker, content: str, native: list[dict]) -> None:
    """Progress as a stream in the scripted server's chunk sizes would report it (calls
    written into the text through the visible-text filter, native calls delta by delta)."""
    hidden = VisibleText(None, tracker.hidden_text)
    for piece in pieces(content, CONTENT_CHUNK):
        hidden.feed(piece)
    calls = StreamingToolCallAccumulator()
    for index, spec in enumerate(native):
        name = spec["function"]["name"]
        calls.add({"index": index, "id": spec["id"], "function": {"name": name, "arguments": ""}})
        tracker.native(calls)
        for fragment in pieces(spec["function"]["arguments"], ARGUMENT_CHUNK):
            calls.add({"index": index, "function": {"arguments": fragment}})
            tracker.native(calls)
