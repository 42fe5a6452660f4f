"""Which model call each message of a conversation belongs to, so a rewind knows where to cut.

The messages carry no step (they go to the model as they are), and compaction rewrites the
list, so positions do not do. This listener tags each message object as it is added
(`MessageAdded` carries the very dict the agent appends): a model call's reply and its tool
results get that call's step; a task's user message gets the step before the run plus a half,
so cutting at the last step of one run also drops the next run's task. A message nobody
tagged (the history a resumed agent starts with, a compaction summary) takes the tag of the
message before it.
"""

from __future__ import annotations

from typing import Any

from claw_nb import events as ev
from claw_nb.events import handles


class TurnMarks(ev.EventDispatch):
    """Step tags of the messages of one conversation, and where each run started."""

    def __init__(self) -> None:
        self.steps = 0  # the conversation's model-call count, as its events tell it
        self.run_starts: list[int] = []  # the step count when each run began
        self._tags: dict[int, tuple[dict[str, Any], float]] = {}

    def __call__(self, event: ev.Event) -> None:
        handler = self.handler_for(event)
        if handler is not None:
            handler(event)

    @handles(ev.SessionStarted)
    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        self.run_starts.append(self.steps)

    @handles(ev.ModelCallFinished)
    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        self.steps = max(self.steps, e.step)  # a failed call counts, and adds no message

    @handles(ev.MessageAdded)
    def _on_MessageAdded(self, e: ev.MessageAdded) -> None:
        role = e.message.get("role")
        self.steps = max(self.steps, e.step)
        step = float(e.step)
        tag = 0.0 if role == "system" else step + 0.5 if role == "user" else step
        self._tags[id(e.message)] = (e.message, tag)

    def tag(self, message: dict[str, Any]) -> float | None:
        entry = self._tags.get(id(message))
        return entry[1] if entry is not None and entry[0] is message else None

    def cut_index(self, messages: list[dict[str, Any]], step: int) -> int:
        """The index of the first message that came after model call `step`."""
        current = 0.0
        for index, message in enumerate(messages):
            tag = self.tag(message)
            current = current if tag is None else tag
            if current > step:
                return index
        return len(messages)

    def forget_runs_after(self, step: int) -> None:
        """A rewind to `step` drops the runs that started after it."""
        self.run_starts = [s for s in self.run_starts if s < step]
