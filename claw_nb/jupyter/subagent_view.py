"""A subagent's transcript in the notebook widget: a collapsible box under its `task` call.

The widget (`claw_nb.jupyter.widget`) receives a child's events too, under the child's own
session id (docs/subagents.md). It hands every event here first (`SubagentBoxes.take`); a
child's never reaches the widget's own handlers, so its header, cards, approvals and end of
run stay the parent's. Each child of the run gets an ipywidgets Accordion holding the plain
transcript the terminal prints (`TextPrinter`, which nests grandchildren with a margin), open
while the child works and folded when it ends. The static copy saved with the notebook keeps
it as a `<details>` block.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from claw_nb import events as ev
from claw_nb.cli.printer import TextPrinter
from claw_nb.jupyter.static_copy import Part
from claw_nb.jupyter.widget_html import BOX, MUTED, PRE, clip, esc, stop_words

FLUSH_SECONDS = 0.12  # streamed text reaches the box at most this often
SHOWN_RESULT_LINES = 4

Append = Callable[[Any, Part], int]  # (widget, static part) -> the part's index
Replace = Callable[[int, Part], None]


class SubagentBoxes:
    """The subagents of one widget run, each in its own box below the run's latest output."""

    def __init__(self, widgets: Any, append: Append, replace: Replace) -> None:
        self._w = widgets
        self._append = append
        self._replace = replace
        self._tree = ev.SessionTree()
        self._boxes: dict[str, SubagentBox] = {}
        self._descriptions: dict[str, str] = {}  # task call id -> its `description`

    def take(self, event: ev.Event) -> bool:
        """Show `event` if a subagent's (True); the run's own events are left to the caller."""
        child = self._tree.child(event)
        if child is None:
            if isinstance(event, ev.ToolCallStarted) and event.tool == "task":
                words = (event.arguments or {}).get("description")
                self._descriptions[event.call_id] = str(words or "")
            return False
        box = self._boxes.get(child.top)
        if box is None:
            description = self._descriptions.get(child.parent_call_id or "", "")
            box = SubagentBox(self._w, child, description, self._append, self._replace)
            self._boxes[child.top] = box
        box.add(event)
        if isinstance(event, ev.SessionEnded) and child.depth == 1:
            box.end(event.stop_reason)
            del self._boxes[child.top]
        return True


class SubagentBox:
    """One child's transcript (its own children nested in it), live and in the static copy."""

    def __init__(
        self,
        widgets: Any,
        child: ev.ChildSession,
        description: str,
        append: Append,
        replace: Replace,
    ) -> None:
        self._text = io.StringIO()
        self._printer = TextPrinter(out=self._text, show_results=SHOWN_RESULT_LINES, live=False)
        self._printer.announce = False  # the box's title says it
        name = child.agent_name or "general-purpose"
        self.title = f"subagent {name}" + (f": {description}" if description else "")
        self.state = "running"
        self._pre = widgets.HTML()
        self.accordion = widgets.Accordion(children=[self._pre], selected_index=0)
        self.accordion.add_class("claw-subagent")
        self._replace = replace
        self._index = append(self.accordion, self._part(opened=True))
        self._rendered = 0.0
        self._render()

    def add(self, event: ev.Event) -> None:
        self._printer(event)
        streamed = isinstance(event, (ev.TextDelta, ev.ToolCallProgress))
        if not streamed or time.monotonic() - self._rendered >= FLUSH_SECONDS:
            self._render()

    def end(self, stop_reason: str) -> None:
        """The child ended: its state in the title, and the box folds."""
        self.state = stop_words(stop_reason)
        self._render(opened=False)
        self.accordion.selected_index = None

    @property
    def text(self) -> str:
        return self._text.getvalue()

    def _render(self, opened: bool = True) -> None:
        self.accordion.set_title(0, f"{self.title} ({self.state})")
        self._pre.value = f'<pre style="{PRE}">{esc(clip(self.text))}</pre>'
        self._replace(self._index, self._part(opened))
        self._rendered = time.monotonic()

    def _part(self, opened: bool) -> Part:
        heading = f"{self.title} ({self.state})"
        body = clip(self.text)
        html = (
            f'<details class="claw-subagent" style="{BOX}"{" open" if opened else ""}>'
            f'<summary style="{MUTED}">{esc(heading)}</summary>'
            f'<pre style="{PRE}">{esc(body)}</pre></details>'
        )
        fenced = body.replace("```", "'''")  # the fence must not end inside the text
        markdown = f"**{heading}**\n\n```text\n{fenced}\n```"
        plain = heading + "".join(f"\n  | {line}" for line in body.splitlines())
        return Part(html, markdown, plain)
