"""One model call of the loop: fit the context, ask, recover from an overflow, log the call.

The context manager may compact before the request and, on a server's context-length error,
shrink and try again (`MAX_CONTEXT_RETRIES`). Every call, failed ones included, becomes a
`ModelCallFinished` event with the tool set that was sent, so the log always says what the
model was shown, and with what the server says it read; each request is also compared with the
previous one (`claw_nb.request_prefix`), so a change that makes the server read the whole prompt
again is counted as a cache break, with the first message that changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import field
from typing import Any

from claw_nb import events as ev
from claw_nb.context import MAX_CONTEXT_RETRIES, ContextManager
from claw_nb.errors import ContextLengthExceeded, ModelError
from claw_nb.protocols import Model, accepts_tool_progress
from claw_nb.records import record
from claw_nb.request_prefix import PrefixBreak, PrefixTracker
from claw_nb.stop import StopToken
from claw_nb.tools import ToolRegistry
from claw_nb.tools.base import specs_json


@record
class ModelTurn:
    """Asks `model` for the next reply of a conversation; `ask` returns it and the tools sent."""

    session_id: str
    model: Model
    context_manager: ContextManager
    emit: Callable[[ev.Event], None]
    stream: bool | None = None
    logged_tools_sha: str | None = None  # the set whose full schemas the log already holds
    prefix: PrefixTracker = field(default_factory=PrefixTracker)
    compactions_seen: int = 0  # the context manager's compactions already told of

    def ask(
        self,
        messages: list[dict[str, Any]],
        tools: ToolRegistry,
        *,
        step: int,
        stop: StopToken,
    ) -> tuple[Any, ToolRegistry]:
        """(the model's reply, the tool set it was sent), after the context is made to fit."""
        emit, session_id = self.emit, self.session_id

        def on_text(text: str) -> None:
            emit(ev.TextDelta(session_id, step=step, text=text))

        def on_tool_progress(index: int, tool: str, chars: int) -> None:
            emit(ev.ToolCallProgress(session_id, step, index, tool, chars))

        def on_retry(attempt: int, delay: float, why: str) -> None:
            message = f"attempt {attempt} failed ({why}); retrying in {delay:.1f}s"
            emit(ev.ErrorOccurred(session_id, kind="retry", message=message))

        progress = (
            {"on_tool_progress": on_tool_progress} if accepts_tool_progress(self.model) else {}
        )
        for attempt in range(MAX_CONTEXT_RETRIES + 1):
            self.context_manager.prepare(messages, tools.specs())  # may compact
            tools = self.context_manager.extend_tools(tools)  # read_output
            specs = tools.specs()
            sent = _break_fields(self.prefix.check(messages, specs, self._compacted()))
            started = time.perf_counter()
            try:
                reply = self.model.complete(
                    messages,
                    specs,
                    on_text=on_text,
                    on_retry=on_retry,
                    known_tools={tool.name: tool.parameters for tool in tools},
                    should_stop=stop,
                    **progress,
                )
                break
            except ContextLengthExceeded as exc:
                self._failed(step, exc, started, messages, specs, sent)
                if attempt == MAX_CONTEXT_RETRIES or not self.context_manager.recover(
                    messages, specs, exc, attempt
                ):
                    raise
            except ModelError as exc:
                self._failed(step, exc, started, messages, specs, sent)
                raise
        self.context_manager.observe(reply.prompt_tokens, reply.usage_source)
        self.emit(
            ev.ModelCallFinished(
                session_id,
                step=step,
                model=self.model.name,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                latency_ms=reply.latency_ms,
                ttft_ms=reply.ttft_ms,
                finish_reason=reply.finish_reason,
                usage_source=reply.usage_source,
                attempts=reply.attempts,
                streamed=reply.streamed,
                message_count=len(messages),
                cached_tokens=reply.cached_tokens,
                prefill_tokens=reply.prefill_tokens,
                prefill_s=reply.prefill_s,
                decode_s=reply.decode_s,
                cost_usd=reply.cost_usd,
                params=dict(reply.params),
                parts=dict(self.context_manager.last_parts),
                **self._tools_sent(specs),
                **sent,
            )
        )
        return reply, tools

    def _compacted(self) -> str | None:
        """The latest compaction since the previous request ("compacted: prune (threshold)")."""
        done = self.context_manager.compactions
        new, self.compactions_seen = done[self.compactions_seen :], len(done)
        return f"compacted: {new[-1].method} ({new[-1].reason})" if new else None

    def _failed(
        self,
        step: int,
        exc: ModelError,
        started: float,
        messages: list[dict[str, Any]],
        specs: list[dict[str, Any]],
        sent: dict[str, Any],
    ) -> None:
        """Log the failed call as a row of its own (`llm_calls.error`), with the counted size."""
        self.emit(
            ev.ModelCallFinished(
                self.session_id,
                step=step,
                model=self.model.name,
                prompt_tokens=self.context_manager.last_tokens,
                completion_tokens=0,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=None,
                finish_reason=None,
                usage_source="counted",
                attempts=exc.attempts,
                streamed=bool(self.stream) if exc.streamed is None else exc.streamed,
                message_count=len(messages),
                parts=dict(self.context_manager.last_parts),
                error=f"{exc.kind}: {exc}",
                **self._tools_sent(specs),
                **sent,
            )
        )

    def _tools_sent(self, specs: list[dict[str, Any]]) -> dict[str, Any]:
        """The sent set's sha, with its schemas the first time the log sees that set."""
        sha = schemas_sha(tuple(specs))
        if sha == self.logged_tools_sha:
            return {"tool_schemas_sha": sha}
        self.logged_tools_sha = sha
        return {"tool_schemas_sha": sha, "tool_schemas": tuple(specs)}


def _break_fields(found: PrefixBreak | None) -> dict[str, Any]:
    """A `PrefixBreak` as the event's fields (a request that extends the last: no break)."""
    if found is None:
        return {"cache_break": False}
    return {
        "cache_break": True,
        "cache_break_index": found.index,
        "cache_break_role": found.role,
        "cache_break_reason": found.reason,
    }


def schemas_sha(specs: tuple[dict[str, Any], ...]) -> str:
    """The tool schemas' id in the log (sha256 prefix of their canonical JSON)."""
    text = specs_json(specs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
