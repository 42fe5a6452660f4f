"""Folding older turns into a summary: which turns stay verbatim, and the summary request.

`ContextManager` decides *when* to fold; this module decides *what*: the head (system messages
and the task) stays, the most recent turns stay verbatim within their budget, and what lies in
between is rendered for the summariser and replaced by one user message that carries the task,
the summary, the files touched and the saved outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_nb.context.file_ledger import FileLedger
from claw_nb.context.outputs import OutputStore, clip_with_handle
from claw_nb.context.prune import call_index
from claw_nb.context.summary import (
    SummaryFrame,
    build_head,
    render_message,
    split_head,
    write_summary,
)
from claw_nb.context.tokens import CHARS_PER_TOKEN, PRIMING, TokenCounter
from claw_nb.outcomes import Outcomes
from claw_nb.records import record

RECENT_SHARE = 0.35  # the verbatim recent turns may use this share of the limit
TASK_SHARE = 0.2  # the task kept in the head may use this share of the limit
TRANSCRIPT_RESULT_CHARS = 3000  # a tool result as the summariser sees it, at most...
MIN_TRANSCRIPT_RESULT_CHARS = 800  # ...and at least (more calls if the window needs them)


def head_len(messages: list[dict[str, Any]]) -> int:
    """Leading system messages plus the first user message (the original task)."""
    index = 0
    while index < len(messages) and messages[index].get("role") == "system":
        index += 1
    if index < len(messages) and messages[index].get("role") == "user":
        index += 1
    return index


@record(frozen=True)
class Fold:
    """The budgets and parts one compaction works with (a snapshot of the manager's)."""

    model: Any
    counter: TokenCounter
    outputs: OutputStore
    files: FileLedger
    outcomes: Outcomes
    todos: list[Any]
    limit: int
    window: int
    reserve: int
    ratio: float
    summary_tokens: int
    keep_turns: int
    # called before a summary is written, with its trigger and focus: PreCompact hooks
    before_summary: Callable[[str, str | None], None] | None = None

    def recent_start(self, messages, head: int, budget: int | None = None) -> int:
        """Index of the first message kept verbatim: whole turns from the end, at most
        `keep_turns` of them and `budget` tokens, but always the last one."""
        budget = int(self.limit * RECENT_SHARE) if budget is None else budget
        starts = [i for i in range(head, len(messages)) if messages[i].get("role") != "tool"]
        start, used, kept = len(messages), 0, 0
        for begin, end in reversed(list(zip(starts, [*starts[1:], len(messages)]))):
            size = sum(self.counter.message(m) for m in messages[begin:end])
            if kept >= self.keep_turns or (kept and used + size > budget):
                break
            start, used, kept = begin, used + size, kept + 1
        return start

    def foldable(self, messages, head: int, recent_budget) -> int:
        """Tokens a summary would replace (what lies between the head and the recent turns)."""
        cut = self.recent_start(messages, head, recent_budget)
        return sum(self.counter.message(m) for m in messages[head:cut])

    def summarise(
        self, messages, head: int, focus, recent_budget, trigger: str = "auto"
    ) -> dict | None:
        """Replace the foldable turns (in place) by a summary; what it took, or None."""
        cut = self.recent_start(messages, head, recent_budget)
        if cut < len(messages) and messages[cut].get("role") == "user":
            cut += 1  # a kept user request joins the head, so roles keep alternating
        folded = messages[head:cut]
        if not any(m.get("role") != "user" for m in folded):
            return None
        if self.before_summary is not None:
            self.before_summary(trigger, focus)  # PreCompact hooks ("manual" or "auto")
        first = messages[head - 1] if head and messages[head - 1].get("role") == "user" else None
        task, previous, latest = (
            split_head(str(first.get("content") or "")) if first else ("", "", None)
        )
        for message in folded:
            if message.get("role") == "user":
                latest = str(message.get("content") or "")
        calls = call_index(messages)
        self.files.note(folded, calls, self.outcomes)
        frame = SummaryFrame(
            task, previous, focus, self.summary_tokens, list(self.todos), self.files.text()
        )
        budget = self.transcript_budget(frame)
        results = sum(1 for m in folded if m.get("role") == "tool") or 1
        per_result = budget * CHARS_PER_TOKEN * 4 // 5 // results  # one call, when it can
        per_result = min(TRANSCRIPT_RESULT_CHARS, max(MIN_TRANSCRIPT_RESULT_CHARS, per_result))
        pieces = [render_message(m, calls, self.outputs, per_result) for m in folded]
        result = write_summary(self.model, frame, pieces, budget, self.counter.text)
        task_chars = int(self.limit * TASK_SHARE * CHARS_PER_TOKEN)
        if len(task) > task_chars:
            task = clip_with_handle(
                task, task_chars, self.outputs.put(task, "the task"), "the task"
            )
        content = build_head(
            task,
            result["text"],
            folded_steps=len(folded),
            files=self.files.text(),
            outputs=self.outputs_text(),
            latest_request=latest,
        )
        messages[head - 1 if first else head : cut] = [{"role": "user", "content": content}]
        return {"folded": len(folded), **result}

    def transcript_budget(self, frame: SummaryFrame) -> int:
        """Tokens of transcript one summary request can carry within the window."""
        request = frame.request(frame.previous, "")
        overhead = sum(self.counter.message(m) for m in request) + PRIMING
        out_tokens = frame.out_tokens
        room = self.window - max(self.reserve, out_tokens) - overhead - out_tokens // 2
        return max(512, int(room / self.ratio))

    def outputs_text(self) -> str:
        """The latest saved outputs, one line each, for the summary's head."""
        return "\n".join(
            f"- {h}: {self.outputs.origin(h)} ({len(self.outputs.get(h) or '')} characters)"
            for h in self.outputs.handles()[-8:]
        )
