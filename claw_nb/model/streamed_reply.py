"""A streamed reply as it arrives: both model paths feed it each chunk's delta.

What a stream does with a delta is the same whatever brought it (LiteLLM's chunk objects or the
direct path's JSON): note the time to the first token, count it against the reply cap, show its
prose (tool calls written as text are hidden), keep its reasoning, collect native tool calls and
report their progress, and remember the finish reason. `reply()` builds the `ModelReply` once
the stream has ended.
"""

from __future__ import annotations

import time
from typing import Any

from claw_nb.config import ClawConfig
from claw_nb.model.reply import ModelReply, build_reply
from claw_nb.model.reply_cap import ReplyCap, tool_call_text
from claw_nb.model.tool_progress import ToolProgressTracker
from claw_nb.model.visible_text import TEXT_CALL_MARKERS, TextCallback, VisibleText
from claw_nb.toolcalls import StreamingToolCallAccumulator


class StreamedReply:
    """The parts of one streamed reply received so far (see the module docstring)."""

    def __init__(
        self,
        config: ClawConfig,
        on_text: TextCallback | None,
        started: float,
        progress: ToolProgressTracker | None = None,
    ) -> None:
        self.started = started
        self.progress = progress
        self.cap = ReplyCap.for_config(config)
        self.visible = VisibleText(on_text, progress.hidden_text if progress is not None else None)
        self.calls = StreamingToolCallAccumulator()
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.ttft: float | None = None
        self.in_call = False  # a tool call written into the text has begun
        self._tail = ""

    def add(
        self, text: str | None, thought: str | None, calls: Any, finish_reason: str | None
    ) -> None:
        """One chunk's delta: its text, reasoning, tool-call fragments and finish reason."""
        if self.ttft is None and (text or thought or calls):
            self.ttft = (time.perf_counter() - self.started) * 1000
        if text and not self.in_call:  # a call written as text: its content is not prose
            seen = self._tail + text
            self.in_call = any(marker in seen for marker in TEXT_CALL_MARKERS)
            self._tail = seen[-16:]
        prose = None if self.in_call else text
        call_text = tool_call_text(calls) + (text or "" if self.in_call else "")
        self.cap.add(prose, thought, calls=call_text)
        if text:
            self.parts.append(text)
            self.visible.feed(text)
        if thought:
            self.reasoning.append(thought)
        if calls:
            self.calls.add(calls)
            if self.progress is not None:
                self.progress.native(self.calls)
        if finish_reason:
            self.finish_reason = finish_reason

    def reply(self, known_tools: dict[str, Any] | None, params: dict[str, Any]) -> ModelReply:
        """The whole reply, once the stream has ended (held-back prose is shown first)."""
        self.visible.flush()
        latency = (time.perf_counter() - self.started) * 1000
        reply = build_reply(
            "".join(self.parts),
            self.calls.finish(),
            self.finish_reason,
            known_tools,
            latency_ms=latency,
            ttft_ms=self.ttft,
            streamed=True,
            params=params,
        )
        reply.reasoning = "".join(self.reasoning) or None
        return reply


def show_whole_reply(on_text: TextCallback | None, content: str) -> None:
    """Show a whole (non-streamed) reply's prose as a stream would, tool-call markup hidden."""
    if on_text is not None:
        visible = VisibleText(on_text)
        visible.feed(content)
        visible.flush()
