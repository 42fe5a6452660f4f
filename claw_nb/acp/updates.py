"""The loop's events as ACP session updates: the listener side of one ACP session.

Streamed text becomes `agent_message_chunk`s, each tool call a `tool_call` (pending, with its
kind, locations and, for edits, the diff) closed by a `tool_call_update` (completed or failed,
with the result), the todo list a `plan`, each model call a `usage_update` (the context window's
fill). The call being decided is kept as `current`: the approver asks the client about it.
Events arrive on the agent's thread; updates leave through the session's `Outbox`, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acp.helpers import (
    plan_entry,
    start_tool_call,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
)
from acp.schema import ToolCallStart, Usage, UsageUpdate

from claw_nb import events as ev
from claw_nb.acp.outbox import Outbox
from claw_nb.acp.tool_views import (
    ClientPaths,
    acp_kind,
    call_content,
    locations,
    result_content,
    title,
)
from claw_nb.events import handles
from claw_nb.records import record


@record
class TurnUsage:
    """Tokens of the model calls in one prompt turn (the `PromptResponse`'s usage)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_read_tokens: int = 0
    calls: int = 0

    def usage(self) -> Usage | None:
        if not self.calls:
            return None
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.input_tokens + self.output_tokens,
            cached_read_tokens=self.cached_read_tokens or None,
        )


def tool_call_start(
    paths: ClientPaths, call_id: str, tool: str, claw_kind: str | None, arguments: Any
) -> ToolCallStart:
    """The `tool_call` update for a call the model made (pending until it is decided)."""
    args = arguments if isinstance(arguments, dict) else None
    return start_tool_call(
        call_id,
        title(tool, args),
        kind=acp_kind(tool, claw_kind),
        status="pending",
        content=call_content(paths, tool, args) or None,
        locations=locations(paths, tool, args) or None,
        raw_input=args,
    )


class UpdateStream(ev.EventDispatch):
    """A listener that sends one session's events to the client as session updates.

    `tool_kind(name)` gives a tool's claw kind (the agent's registry knows it); `window()` the
    model's context window in tokens, for `usage_update`.
    """

    def __init__(
        self,
        outbox: Outbox,
        paths: ClientPaths,
        tool_kind: Callable[[str], str | None],
        window: Callable[[], int],
    ) -> None:
        self.outbox = outbox
        self.paths = paths
        self.tool_kind = tool_kind
        self.window = window
        self.current: ToolCallStart | None = None  # the call being decided or run
        self.turn = TurnUsage()
        self.stop_reason: str | None = None
        self._streamed = False  # text of the model's current reply already sent as deltas

    def __call__(self, event: ev.Event) -> None:
        handler = self.handler_for(event)
        if handler is not None:
            handler(event)

    def start_turn(self) -> None:
        """Forget the last turn's usage and stop reason (a new prompt starts)."""
        self.turn = TurnUsage()
        self.stop_reason = None

    @handles(ev.TextDelta)
    def _on_TextDelta(self, e: ev.TextDelta) -> None:
        if e.text:
            self._streamed = True
            self.outbox.put(update_agent_message_text(e.text))

    @handles(ev.MessageAdded)
    def _on_MessageAdded(self, e: ev.MessageAdded) -> None:
        if e.message.get("role") != "assistant":
            return
        content = e.message.get("content")
        if not self._streamed and isinstance(content, str) and content:  # a reply not streamed
            self.outbox.put(update_agent_message_text(content))
        self._streamed = False

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        arguments = e.arguments if e.arguments is not None else {"arguments": e.raw_arguments}
        start = tool_call_start(self.paths, e.call_id, e.tool, self.tool_kind(e.tool), arguments)
        self.current = start
        self.outbox.put(start)

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        start = self.current if self.current and self.current.tool_call_id == e.call_id else None
        kind = start.kind if start is not None else acp_kind(e.tool, self.tool_kind(e.tool))
        text = e.result if e.ok else (e.error or e.result)
        content = [result_content(kind or "other", text)]
        if e.ok and start is not None and kind == "edit":
            content = [*(start.content or []), *content]  # the diff stays with the result
        self.outbox.put(
            update_tool_call(
                e.call_id,
                status="completed" if e.ok else "failed",
                content=content,
                raw_output={"ok": e.ok, "result": text, "error_kind": e.error_kind},
            )
        )
        self.current = None

    @handles(ev.TodosUpdated)
    def _on_TodosUpdated(self, e: ev.TodosUpdated) -> None:
        entries = [
            plan_entry(str(t.get("content", "")), status=_plan_status(t.get("status")))
            for t in e.todos
        ]
        self.outbox.put(update_plan(entries))

    @handles(ev.ModelCallFinished)
    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        turn = self.turn
        turn.calls += 1
        turn.input_tokens += max(e.prompt_tokens, 0)
        turn.output_tokens += max(e.completion_tokens, 0)
        turn.cached_read_tokens += max(e.cached_tokens or 0, 0)
        used = max(e.prompt_tokens, 0) + max(e.completion_tokens, 0)
        size = max(self.window(), used)
        self.outbox.put(UsageUpdate(session_update="usage_update", used=used, size=size))

    @handles(ev.ContextCompacted)
    def _on_ContextCompacted(self, e: ev.ContextCompacted) -> None:
        words = f"context {e.method}: {e.tokens_before:,} -> {e.tokens_after:,} tokens"
        self.outbox.put(update_agent_thought_text(words))

    @handles(ev.ErrorOccurred)
    def _on_ErrorOccurred(self, e: ev.ErrorOccurred) -> None:
        if e.kind == "retry":  # the model call is tried again: a note, not the answer
            self.outbox.put(update_agent_thought_text(f"model call {e.message}"))
            return
        self.outbox.put(update_agent_message_text(f"\n\nclaw stopped ({e.kind}): {e.message}"))

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        self.stop_reason = e.stop_reason
        if e.stop_reason == "max_steps" and e.error:
            self.outbox.put(update_agent_message_text(f"\n\nclaw stopped: {e.error}"))


def _plan_status(status: Any) -> str:
    return status if status in ("pending", "in_progress", "completed") else "pending"
