"""The live transcript of a `%%claw` run, as ipywidgets, with a static copy that outlives it.

The agent runs on a background thread (`claw_nb.jupyter.run_queue`) and calls this view as an event
listener from there. Every change is a widget trait update, which ipywidgets sends to the front
end as a comm message at once, from whichever thread made it. Beside the widget the cell holds a
static copy of the transcript (`claw_nb.jupyter.static_copy`), updated by display id, so a saved
notebook shows the run without a kernel; and a script output carrying the page behaviour
(`claw_nb.jupyter.page_scripts`: scrolling, approvals noticed, editor tabs reloaded).

The approval blocks the agent thread on a `threading.Event` that the button callback sets; the
callback runs on the kernel's main thread, which is idle. A ticker thread keeps the header's
elapsed time and phase ("loading model layer", "waiting for model", "model is writing", "model
is writing a tool call: write_file (2.4 kB)") current and sends streamed text that would
otherwise wait for the next event.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from claw_nb import events as ev
from claw_nb.events import handles
from claw_nb.jupyter.changes import ChangeTracker, preview_change
from claw_nb.jupyter.run_status import RunStatus
from claw_nb.jupyter.static_copy import Part, StaticTranscript, note_part, text_part
from claw_nb.jupyter.subagent_view import SubagentBoxes
from claw_nb.jupyter.widget_actions import TranscriptActions
from claw_nb.jupyter.widget_display import TranscriptDisplay
from claw_nb.jupyter.widget_html import (
    MUTED,
    PRE,
    Card,
    clip,
    esc,
    retry_words,
    stop_words,
    todo_list,
)
from claw_nb.outcomes import StopReason

FLUSH_SECONDS = 0.12  # at most this often, streamed text is sent to the front end
TICK_SECONDS = 0.25
MAX_HEIGHT = "40em"  # a long transcript scrolls inside itself


class WidgetTranscript(TranscriptDisplay, TranscriptActions, ev.EventDispatch):
    """The live view of one run; an event listener and the approver while the run is bound."""

    approver_label = "user (notebook)"

    def __init__(
        self,
        task: str,
        *,
        quiet: bool = False,
        max_steps: int | None = None,
        model_layer_ready: Callable[[], bool] | None = None,
    ) -> None:
        import ipywidgets as w

        self._w = w
        self.task = task
        self.quiet = quiet
        self.agent: Any = None
        self.on_cancel: Callable[[], bool] | None = None
        # "Undo this run" (the magics' undo_run): (done, lines to show); None: not offered
        self.on_undo: Callable[[], tuple[bool, list[str]]] | None = None
        self.start_step: int | None = None  # the conversation's step count when the run began
        self.run_id = secrets.token_hex(4)
        self.tracker = ChangeTracker()
        self.static = StaticTranscript(self.run_id, task)
        self.static_bundle: dict[str, Any] = {}
        self.run = RunStatus(max_steps=max_steps, model_layer_ready=model_layer_ready)
        self._lock = threading.RLock()
        self._stopping = False
        self._finished = False
        self._md: Any = None
        self._md_part = -1
        self._md_text = ""
        self._md_step: int | None = None
        self._md_flushed = 0.0
        self._md_dirty = False
        self._streamed_steps: set[int] = set()
        self._last_step: int | None = None
        self._cards: dict[str, tuple[Card, Any, int]] = {}  # running calls
        self._all_cards: dict[str, tuple[Card, Any, int]] = {}
        self._last_call: str | None = None
        self._waited: dict[str, float] = {}  # call id -> seconds spent waiting for a person
        self._todos: tuple[Any, int] | None = None
        self._answer: str | None = None
        self._answered = threading.Event()
        self._ticker: threading.Thread | None = None
        self._shown = False
        self.inserted: list[str] = []  # code handed to the front end as new cells
        self._proposed = 0

        self.status = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self.status.add_class("claw-status")
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            button_style="warning",
            tooltip="End the run at the next safe point",
            layout=w.Layout(width="auto"),
        )
        self.stop_button.add_class("claw-stop")
        self.stop_button.on_click(lambda _: self.stop())
        first_line = task.strip().splitlines()[0] if task.strip() else ""
        task_html = (
            f'<details><summary style="{MUTED}">task: {esc(first_line[:100])}</summary>'
            f'<pre style="{PRE}">{esc(clip(task))}</pre></details>'
        )
        # the body keeps its height: a shrunk widget box scrolls by itself, from its top
        self.body = w.VBox([w.HTML(task_html)], layout=w.Layout(flex="none", overflow="visible"))
        self.body.add_class("claw-body")
        # column-reverse shows the newest lines without a script; js/transcript.js does the rest
        self.scroller = w.Box(
            [self.body],
            layout=w.Layout(max_height=MAX_HEIGHT, overflow="auto", flex_flow="column-reverse"),
        )
        self.scroller.add_class("claw-scroll")
        self.approval = w.VBox([])  # pinned under the header, above the scrolling body
        self.approval.add_class("claw-approval")
        self.footer = w.HTML()
        self.footer.add_class("claw-footer")
        self.widget = w.VBox(
            [w.HBox([self.status, self.stop_button]), self.approval, self.scroller, self.footer],
            layout=w.Layout(border="1px solid var(--jp-border-color1, #ccc)", padding="4px 8px"),
        )
        self.widget.add_class("claw-transcript")
        self.widget.add_class(f"claw-live-{self.run_id}")
        # a subagent's events go to their own box (claw_nb.jupyter.subagent_view)
        self.subagents = SubagentBoxes(w, self._append, self.static.replace)
        self._render_status()

    def _append(self, child: Any, part: Part | None = None) -> int:
        with self._lock:
            self.body.children = (*self.body.children, child)
            return self.static.add(part) if part is not None else -1

    def _note(self, text: str, style: str = MUTED) -> None:
        self._append(
            self._w.HTML(f'<div style="{style}">{esc(text)}</div>'), note_part(text, style)
        )

    def _render_status(self) -> None:
        self.status.value = self.run.header_html()

    def _set_state(self, state: str) -> None:
        self.run.state = state
        self._render_status()

    # -- lifecycle, called by the magics --------------------------------------------------

    def queued(self, ahead: int) -> None:
        self._set_state(f"queued: waits for {ahead} run{'s' if ahead != 1 else ''} before it")

    def bind(self, agent: Any) -> None:
        """The run starts with `agent` (on the worker thread)."""
        self.agent = agent
        self.start_step = agent.steps
        if self._stopping:  # Stop was pressed while the run was queued: it stops at once
            agent.interrupt()
        self.run.start(agent)
        self._set_state("running")
        self._ticker = threading.Thread(target=self._tick, name="claw-view", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        last_status = 0.0
        while not self._finished:
            time.sleep(TICK_SECONDS)
            with self._lock:
                if self._finished:
                    return
                if self._md_dirty:
                    self._flush()
                if time.monotonic() - last_status >= 1.0:
                    self._render_status()
                    last_status = time.monotonic()

    def _end(self, state: str) -> None:
        self._finished = True
        self.widget.add_class("claw-done")  # the watchdog stops watching
        # hidden, not removed: the transcript keeps its height, so the notebook does not jump
        self.stop_button.layout.visibility = "hidden"
        self._set_state(state)
        self._script(None)
        self._save_static(final=True)

    def failed(self, message: str) -> None:
        self._note(message, "color:#c0392b;")
        self._end("failed")

    def cancelled(self) -> None:
        self._end("cancelled before it started")

    def stop(self) -> None:
        """The Stop button: end the run at the next safe point (a pending approval is denied)."""
        if self._finished:
            return
        self._stopping = True
        if self.agent is None:
            if self.on_cancel is not None and self.on_cancel():
                self.cancelled()
            return
        self.agent.interrupt()
        self.stop_button.disabled = True
        self._set_state("stopping at the next safe point")
        self._answer_with("no")

    # -- events (called on the agent's thread) --------------------------------------------

    def __call__(self, event: ev.Event) -> None:
        if self.subagents.take(event):  # a subagent's event: shown in its box
            return
        handler = self.handler_for(event)
        if handler is not None:
            with self._lock:
                handler(event)

    def _flush(self) -> None:
        if self._md is not None and self._md_dirty:
            text = self._md_text
            self._md.outputs = (
                {
                    "output_type": "display_data",
                    "data": {"text/markdown": text, "text/plain": text},
                    "metadata": {},
                },
            )
            self.static.replace(self._md_part, text_part(text))
            self._md_flushed = time.monotonic()
            self._md_dirty = False

    def _new_text_block(self, text: str = "", css_class: str = "claw-text") -> Any:
        self._flush()
        block = self._w.Output()
        block.add_class(css_class)
        self._md_part = self._append(block, text_part(text, css_class))
        self._md, self._md_text, self._md_dirty = block, text, bool(text)
        self._flush()
        return block

    @handles(ev.SessionStarted)
    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        if self._stopping and self.agent is not None:  # Stop came before the run cleared it
            self.agent.interrupt()
        self.tracker.workspace = e.workspace
        self.run.session, self.run.model = e.session_id, e.model
        self._render_status()

    @handles(ev.TextDelta)
    def _on_TextDelta(self, e: ev.TextDelta) -> None:
        self.run.saw_step(e.step, writing=True)
        if self.quiet:
            return
        if self._md is None or self._md_step != e.step:
            self._new_text_block()
            self._md_step = e.step
        self._streamed_steps.add(e.step)
        self._md_text += e.text
        self._md_dirty = True
        if time.monotonic() - self._md_flushed >= FLUSH_SECONDS:
            self._flush()

    @handles(ev.ModelCallFinished)
    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        self._flush()
        if self._md is not None and self._md_step == e.step and not self.quiet:
            self._offer_code(self._md_text)
        self._last_step = e.step
        self.run.model_call(e)
        self._render_status()

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        self.tracker.started(e)
        self._flush()
        self._md = None  # text after this call goes into a new block below the card
        self._last_call = e.call_id
        if self.run.call_written(f"running {e.tool}"):
            self._render_status()
        self.run.phase = f"running {e.tool}"
        if self.quiet:
            return
        card = Card(e.tool, e.arguments, e.raw_arguments)
        widget = self._w.HTML(card.html())
        widget.add_class("claw-tool")
        index = self._append(widget, Part(card.html(), card.markdown(), card.plain()))
        self._cards[e.call_id] = self._all_cards[e.call_id] = (card, widget, index)

    def _card_state(self, call_id: str | None, state: str, icon: str) -> None:
        entry = self._cards.get(call_id) if call_id else None
        if entry is not None:
            card, widget, _ = entry
            card.state, card.icon = state, icon
            widget.value = card.html()

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        change = self.tracker.finished(e)
        self.run.phase = "waiting for model"
        entry = self._cards.pop(e.call_id, None)
        if entry is not None:
            card, widget, index = entry
            duration = max(0.0, e.duration_ms - 1000 * self._waited.pop(e.call_id, 0.0))
            if e.error_kind == "denied" and card.proposed is None and e.arguments:
                card.proposed = preview_change(self.tracker.workspace, e.tool, e.arguments)
            output = e.result if e.ok else (e.error or e.result)
            card.finish(e.ok, e.error_kind, duration, output, change, rule=e.rule)
            widget.value = card.html()
            self.static.replace(index, Part(card.html(), card.markdown(), card.plain()))
        if e.ok:
            self._tell_page_files(e)  # editor tabs open on the file reload
        self._save_static()

    @handles(ev.TodosUpdated)
    def _on_TodosUpdated(self, e: ev.TodosUpdated) -> None:
        if self.quiet:
            return
        entry = self._all_cards.get(self._last_call or "")
        if entry is not None:  # the plan shows below: the card need not repeat it as JSON
            card, widget, index = entry
            card.show_arguments = False
            widget.value = card.html()
            self.static.replace(index, Part(card.html(), card.markdown(), card.plain()))
        html, md = todo_list(e.todos)
        part = Part(html, md, md)
        if self._todos is None:
            widget = self._w.HTML(html)
            self._todos = (widget, self._append(widget, part))
        else:
            self._todos[0].value = html
            self.static.replace(self._todos[1], part)

    @handles(ev.FinalAnswer)
    def _on_FinalAnswer(self, e: ev.FinalAnswer) -> None:
        if (self.quiet or self._last_step not in self._streamed_steps) and e.text:
            self._new_text_block(e.text, "claw-final")
            self._offer_code(e.text)
        self._flush()
        if self._md is not None and e.text:  # where the page lands when the run ends
            self._md.add_class("claw-answer")

    @handles(ev.ErrorOccurred)
    def _on_ErrorOccurred(self, e: ev.ErrorOccurred) -> None:
        if e.kind == "retry":
            if self.run.call_written("waiting for model"):  # the next attempt starts over
                self._render_status()
            self._note(retry_words(e.message, self.run.max_retries))
        else:
            from claw_nb.jupyter.error_text import fix_hint  # the notebook's way to fix it

            self._note(f"error: {e.message}{fix_hint(e.fixes)}", "color:#c0392b;")

    @handles(ev.HookRan)
    def _on_HookRan(self, e: ev.HookRan) -> None:
        from claw_nb.hooks import describe_run

        line = describe_run(e)
        if line is not None:
            self._note(line)

    @handles(ev.ContextCompacted)
    def _on_ContextCompacted(self, e: Any) -> None:
        self._note(
            f"context compacted ({e.method}, {e.reason}): {e.tokens_before:,} -> "
            f"{e.tokens_after:,} tokens"
        )

    @handles(ev.ToolCallProgress)
    def _on_ToolCallProgress(self, e: ev.ToolCallProgress) -> None:
        """A tool call the model is still writing: said in the header, in place, not as a row."""
        if self.run.writing_call(e.step, e.tool, e.chars):
            self._render_status()

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        self._flush()
        self._answer_with("no")
        self.run.ended(e.steps)
        if e.stop_reason == StopReason.INTERRUPTED:
            self._note("stopped by you before the next step")
        elif e.stop_reason == StopReason.MAX_STEPS:
            self._note(
                f"stopped: the step limit ({self.run.max_steps}) was reached; a new "
                "%%claw cell continues",
                "color:#b26a00;",
            )
        lines = self.tracker.summary_lines()
        if lines:
            items = "".join(f"<li><code>{esc(x)}</code></li>" for x in lines)
            self.footer.value = (
                f'<div class="claw-changes"><b>changed</b><ul style="margin:2px 0">{items}</ul>'
                "</div>"
            )
        if self.on_undo is not None:
            self._offer_undo()
        self._end(stop_words(e.stop_reason))
