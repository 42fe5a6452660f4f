"""The live transcript of a `%%claw` run, as ipywidgets.

The agent runs on a background thread (`claw_nb.jupyter.run_queue`) and calls this view as an event
listener from there. Every change is a widget trait update, which ipywidgets sends to the front
end as a comm message at once, from whichever thread made it: the cell that started the run has
long returned, so nothing here writes to a cell's output stream.

The view shows the streamed assistant text as Markdown, one compact card per tool call (tool,
arguments, status, duration, output folded away, a diff for file edits), a header with the step
and token counts, a Stop button, and Approve / Deny / Always-allow buttons when a call needs the
user's approval. The approval blocks the agent thread on a `threading.Event` that the button
callback sets; the callback runs on the kernel's main thread, which is idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from claw_nb import events as ev
from claw_nb.jupyter.changes import ChangeTracker, FileChange, describe_arguments, preview_change
from claw_nb.jupyter.widget_html import (
    BOX,
    ICON_COLOURS,
    MUTED,
    PRE,
    clip,
    diff_html,
    esc,
    short_arguments,
)

FLUSH_SECONDS = 0.12  # at most this often, streamed text is sent to the front end

class _Card:
    """One tool call: a single HTML widget re-rendered as the call progresses."""

    def __init__(self, widget: Any, event: ev.ToolCallStarted) -> None:
        self.widget = widget
        self.tool = event.tool
        self.arguments = event.arguments
        self.raw = event.raw_arguments
        self.state = "running"
        self.render()

    def render(self, body: str = "", status: str | None = None, icon: str = "\u22ef") -> None:
        status = status or self.state
        head = (
            f'<span class="claw-card-icon" style="color:{ICON_COLOURS.get(icon, "inherit")}">'
            f'{icon}</span> <b>{esc(self.tool)}</b> '
            f'<code>{esc(short_arguments(self.arguments, self.raw))}</code> '
            f'<span class="claw-card-status" style="{MUTED}">{esc(status)}</span>'
        )
        full = describe_arguments(self.arguments, self.raw)
        args = (
            f'<details><summary style="{MUTED}">arguments</summary>'
            f'<pre style="{PRE}">{esc(clip(full))}</pre></details>'
            if full and len(full) > 100
            else ""
        )
        self.widget.value = f'<div class="claw-card" style="{BOX}">{head}{args}{body}</div>'

    def finish(self, e: ev.ToolCallFinished, change: FileChange | None) -> None:
        seconds = e.duration_ms / 1000
        took = f"{seconds:.1f} s" if seconds >= 0.1 else f"{e.duration_ms:.0f} ms"
        if e.ok:
            self.state, icon = f"ok \u00b7 {took}", "\u2713"
        elif e.error_kind == "denied":
            self.state, icon = "denied", "\u2298"
        else:
            self.state, icon = f"error ({e.error_kind}) \u00b7 {took}", "\u2717"
        parts = []
        if change is not None:
            parts.append(
                f'<div style="{MUTED}">{esc(change.label())}</div>' + diff_html(change.diff)
            )
        output = e.result if e.ok else (e.error or e.result)
        if output and change is None:
            lines = output.count("\n") + 1
            open_attr = "" if e.ok else " open"
            parts.append(
                f'<details{open_attr}><summary style="{MUTED}">output ({lines} line'
                f'{"s" if lines != 1 else ""})</summary>'
                f'<pre class="claw-output" style="{PRE}">{esc(clip(output))}</pre></details>'
            )
        self.render("".join(parts), icon=icon)


class WidgetTranscript:
    """The live view of one run; an event listener and the approver while the run is bound."""

    approver_label = "user (notebook)"

    def __init__(self, task: str, *, quiet: bool = False, max_steps: int | None = None) -> None:
        import ipywidgets as w

        self._w = w
        self.task = task
        self.quiet = quiet
        self.max_steps = max_steps
        self.agent: Any = None
        self.on_cancel: Callable[[], bool] | None = None
        self.result: Any = None
        self.tracker = ChangeTracker()
        self._lock = threading.RLock()
        self._state = "starting"
        self._session = ""
        self._model = ""
        self._steps = 0
        self._tokens = 0
        self._context = 0
        self._stopping = False
        self._finished = False
        self._md: Any = None
        self._md_text = ""
        self._md_step: int | None = None
        self._md_flushed = 0.0
        self._streamed_steps: set[int] = set()
        self._last_step: int | None = None
        self._cards: dict[str, _Card] = {}
        self._last_card: _Card | None = None
        self._todos: Any = None
        self._answer: str | None = None
        self._answered = threading.Event()

        self.status = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self.status.add_class("claw-status")
        self.stop_button = w.Button(
            description="Stop", icon="stop", button_style="warning",
            tooltip="End the run at the next safe point", layout=w.Layout(width="auto"),
        )
        self.stop_button.add_class("claw-stop")
        self.stop_button.on_click(lambda _: self.stop())
        first_line = task.strip().splitlines()[0] if task.strip() else ""
        task_html = (
            f'<details><summary style="{MUTED}">task: {esc(first_line[:100])}</summary>'
            f'<pre style="{PRE}">{esc(clip(task))}</pre></details>'
        )
        self.body = w.VBox([w.HTML(task_html)])
        self.body.add_class("claw-body")
        self.approval = w.VBox([])
        self.approval.add_class("claw-approval")
        self.footer = w.HTML()
        self.footer.add_class("claw-footer")
        self.widget = w.VBox(
            [w.HBox([self.status, self.stop_button]), self.body, self.approval, self.footer],
            layout=w.Layout(border="1px solid var(--jp-border-color1, #ccc)", padding="4px 8px"),
        )
        self.widget.add_class("claw-transcript")
        self._render_status()

    # -- display --------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _append(self, child: Any) -> None:
        with self._lock:
            self.body.children = (*self.body.children, child)

    def _note(self, text: str, style: str = MUTED) -> None:
        self._append(self._w.HTML(f'<div style="{style}">{esc(text)}</div>'))

    def _render_status(self) -> None:
        parts = ["<b>claw</b>"]
        if self._model:
            parts.append(esc(self._model))
        if self._session:
            parts.append(f"session <code>{esc(self._session)}</code>")
        step = f"step {self._steps}" + (f"/{self.max_steps}" if self.max_steps else "")
        parts.append(f'<span class="claw-steps">{step}</span>')
        tokens = f"{self._tokens:,} tokens"
        if self._context:
            tokens += f" (context {self._context:,})"
        parts.append(f'<span class="claw-tokens">{tokens}</span>')
        colour = {"completed": "#28a745", "running": "#3b6fb6"}.get(self._state, "#b26a00")
        parts.append(f'<span class="claw-state" style="color:{colour}">{esc(self._state)}</span>')
        self.status.value = " \u00b7 ".join(parts)

    def _set_state(self, state: str) -> None:
        self._state = state
        self._render_status()

    # -- lifecycle, called by the magics --------------------------------------------------

    def queued(self, ahead: int) -> None:
        self._set_state(f"queued: waits for {ahead} run{'s' if ahead != 1 else ''} before it")

    def bind(self, agent: Any) -> None:
        """The run starts with `agent` (on the worker thread)."""
        self.agent = agent
        self._set_state("running")

    def failed(self, message: str) -> None:
        self._finished = True
        self.stop_button.layout.display = "none"
        self._set_state("failed")
        self._note(message, "color:#c0392b;")

    def cancelled(self) -> None:
        self._finished = True
        self.stop_button.layout.display = "none"
        self._set_state("cancelled before it started")

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

    # -- approvals (called on the agent's thread) -----------------------------------------

    def approve(self, request: Any) -> str:
        if self._stopping:
            return "no"
        w = self._w
        self._answered.clear()
        self._answer = None
        diff = preview_change(self.tracker.workspace, request.tool, request.arguments)
        arguments = (
            f'<pre class="claw-approval-args" style="{PRE}">'
            f"{esc(clip(describe_arguments(request.arguments)))}</pre>"
        )
        details = arguments if not diff else diff_html(diff) + (
            f'<details><summary style="{MUTED}">all arguments</summary>{arguments}</details>'
        )
        prompt = w.HTML(
            f'<div style="{BOX}border-color:#e0a800;"><b>Approve {esc(request.tool)}?</b> '
            f'<span style="{MUTED}">{esc(request.reason)}</span>{details}</div>'
        )
        buttons = [
            w.Button(description="Approve", button_style="success", icon="check"),
            w.Button(description="Deny", button_style="danger", icon="times"),
            w.Button(description="Always allow", button_style="info", icon="check-double",
                     tooltip="Approve, and allow such calls for the rest of this conversation"),
        ]
        for button, answer in zip(buttons, ("yes", "no", "always")):
            button.add_class(f"claw-{answer}")
            button.on_click(lambda _b, a=answer: self._answer_with(a))
        if self._last_card is not None:
            self._last_card.render(status="waiting for approval", icon="?")
        self.approval.children = (prompt, w.HBox(buttons))
        self._set_state("waiting for approval")
        self._answered.wait()
        answer = self._answer or "no"
        self.approval.children = ()
        word = {"yes": "approved", "always": "always allowed", "no": "denied"}[answer]
        self._note(f"{word}: {request.tool}")
        if self._last_card is not None:
            self._last_card.render(status=word if answer == "no" else "running")
        self._set_state("stopping at the next safe point" if self._stopping else "running")
        return answer

    def _answer_with(self, answer: str) -> None:
        if self._answer is None:
            self._answer = answer
        self._answered.set()

    # -- events (called on the agent's thread) --------------------------------------------

    def __call__(self, event: ev.Event) -> None:
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            with self._lock:
                handler(event)

    def _markdown(self, text: str) -> dict:
        return {
            "output_type": "display_data",
            "data": {"text/markdown": text, "text/plain": text},
            "metadata": {},
        }

    def _flush(self) -> None:
        if self._md is not None:
            self._md.outputs = (self._markdown(self._md_text),)
            self._md_flushed = time.monotonic()

    def _new_text_block(self, text: str = "") -> Any:
        self._flush()
        block = self._w.Output()
        block.add_class("claw-text")
        self._append(block)
        self._md, self._md_text = block, text
        if text:
            self._flush()
        return block

    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        if self._stopping and self.agent is not None:  # Stop came before the run cleared it
            self.agent.interrupt()
        self.tracker.workspace = e.workspace
        self._session, self._model = e.session_id, e.model
        self._render_status()

    def _on_TextDelta(self, e: ev.TextDelta) -> None:
        if self.quiet:
            return
        if self._md is None or self._md_step != e.step:
            self._new_text_block()
            self._md_step = e.step
        self._streamed_steps.add(e.step)
        self._md_text += e.text
        if time.monotonic() - self._md_flushed >= FLUSH_SECONDS:
            self._flush()

    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        self._flush()
        self._last_step = e.step
        self._steps += 1
        self._tokens += e.prompt_tokens + e.completion_tokens
        self._context = e.prompt_tokens + e.completion_tokens
        self._render_status()

    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        self.tracker.started(e)
        self._flush()
        self._md = None  # text after this call goes into a new block below the card
        if self.quiet:
            return
        card = _Card(self._w.HTML(), e)
        card.widget.add_class("claw-tool")
        self._cards[e.call_id] = card
        self._last_card = card
        self._append(card.widget)

    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        change = self.tracker.finished(e)
        card = self._cards.pop(e.call_id, None)
        if card is not None:
            card.finish(e, change)
        if card is self._last_card:
            self._last_card = None

    def _on_TodosUpdated(self, e: ev.TodosUpdated) -> None:
        if self.quiet:
            return
        marks = {"completed": "\u2611", "in_progress": "\u25b6"}
        items = "".join(
            f"<li>{marks.get(t.get('status'), chr(0x2610))} {esc(t.get('content', ''))}</li>"
            for t in e.todos
        )
        value = f'<div style="{BOX}"><b>plan</b><ul style="margin:2px 0">{items}</ul></div>'
        if self._todos is None:
            self._todos = self._w.HTML(value)
            self._append(self._todos)
        else:
            self._todos.value = value

    def _on_FinalAnswer(self, e: ev.FinalAnswer) -> None:
        if (self.quiet or self._last_step not in self._streamed_steps) and e.text:
            block = self._new_text_block(e.text)
            block.add_class("claw-final")
        self._flush()

    def _on_ErrorOccurred(self, e: ev.ErrorOccurred) -> None:
        if e.kind == "retry":
            self._note(f"model call {e.message}")
        else:
            self._note(f"error: {e.message}", "color:#c0392b;")

    def _on_ContextCompacted(self, e: Any) -> None:
        self._note(
            f"context compacted ({e.method}, {e.reason}): {e.tokens_before:,} -> "
            f"{e.tokens_after:,} tokens"
        )

    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        self._flush()
        self._finished = True
        self._answer_with("no")
        self.stop_button.layout.display = "none"
        self._set_state(e.stop_reason)
        if e.stop_reason == "interrupted":
            self._note("stopped by the user before the next step")
        elif e.stop_reason == "max_steps":
            self._note(f"stopped: the step limit ({self.max_steps}) was reached; a new %%claw "
                       "cell continues", "color:#b26a00;")
        lines = self.tracker.summary_lines()
        if lines:
            items = "".join(f"<li><code>{esc(x)}</code></li>" for x in lines)
            self.footer.value = (
                f'<div class="claw-changes"><b>changed</b><ul style="margin:2px 0">{items}</ul>'
                "</div>"
            )
