"""What a person does in a live transcript besides watching: answer an approval, take code
from an answer into the notebook. A mixin of `WidgetTranscript` (its widgets, state and script
channel)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from claw_nb.jupyter.call_gist import call_gist
from claw_nb.jupyter.changes import describe_arguments, preview_change
from claw_nb.jupyter.widget_html import BOX, MUTED, PRE, clip, diff_html, esc
from claw_nb.textsafe import show


def _refusal(feedback: str) -> str:
    text = " ".join(feedback.split())
    return f"no: {text}" if text else "no"


def _answer_word(answer: str, plan: bool = False) -> str:
    """How the transcript notes an answer (a plan's included)."""
    words = {"yes": "approved", "always": "always allowed", "no": "denied"}
    if answer in words:
        return words[answer]
    if answer.startswith("no:"):
        return "sent back" if plan else "denied, with your reason"
    return f"approved into {answer}"


def _no_offer(request: Any) -> str:
    """Why a card has no "Always allow" button, in a line."""
    if request.quoted is not None or request.reason.startswith("asks in every mode"):
        return "no \u201calways\u201d here: this call asks in every mode"
    return "no \u201calways\u201d here: this command line cannot be checked against rules"


class TranscriptActions:
    """Approvals (on the agent's thread) and code into cells (button callbacks)."""

    def approve(self, request: Any) -> str:
        if self._stopping:
            return "no"
        self._answered.clear()
        self._answer = None
        if request.kind == "plan":
            prompt, row = self._plan_card(request)
        else:
            prompt, row = self._approval_card(request)
        call = self._last_call
        self._card_state(call, "waiting for approval", "?")
        self.approval.children = (prompt, row)
        # the page script sees the card and makes it noticed (claw_nb.jupyter.page_scripts)
        self._set_state("waiting for you")
        asked = time.monotonic()
        self.run.waiting_since = asked
        self._answered.wait()
        self.run.waiting_since = None
        waited = time.monotonic() - asked
        self.run.waited += waited
        if call is not None:
            self._waited[call] = self._waited.get(call, 0.0) + waited
        answer = self._answer or "no"
        self.approval.children = ()
        word = _answer_word(answer, request.kind == "plan")
        self._note(f"{word}: {'the plan' if request.kind == 'plan' else request.tool}")
        refused = answer == "no" or answer.startswith("no:")
        self._card_state(call, word if refused else "running", "\u22ef")
        self._set_state("stopping at the next safe point" if self._stopping else "running")
        return answer

    def _plan_card(self, request: Any) -> tuple[Any, Any]:
        """The plan as escaped text; approve into accept-edits or auto, or keep planning with
        what should change (`claw_nb.permissions.plan_answer` reads the answer)."""
        w = self._w
        plan = str(request.arguments.get("plan", ""))
        prompt = w.HTML(
            f'<div class="claw-plan" style="{BOX}border-color:#e0a800;"><b>Approve the plan?</b> '
            f'<span style="{MUTED}">the agent has been planning (reads only); approved, it '
            f'goes on in the mode you pick</span><pre style="{PRE}white-space:pre-wrap;">'
            f"{esc(clip(plan))}</pre></div>"
        )
        feedback = w.Text(placeholder="what should change (for Keep planning)")
        feedback.add_class("claw-plan-feedback")
        choices = [
            ("Approve, accept edits", "success", "check", "accept-edits", "claw-yes"),
            ("Approve, auto", "info", "check-double", "auto", "claw-plan-auto"),
            ("Keep planning", "warning", "pencil", "no", "claw-no"),
        ]
        buttons = []
        for label, style, icon, answer, css in choices:
            button = w.Button(description=label, button_style=style, icon=icon)
            button.add_class(css)
            if answer == "no":
                button.on_click(lambda _b: self._answer_with(_refusal(feedback.value)))
            else:
                button.on_click(lambda _b, a=answer: self._answer_with(a))
            buttons.append(button)
        return prompt, w.HBox([*buttons, feedback])

    def _approval_card(self, request: Any) -> tuple[Any, Any]:
        """The call in a line, its diff or its arguments, what "Always allow" would add; then
        Approve, Deny (with an optional reason for the model) and, if a rule is offered,
        Always allow."""
        w = self._w
        diff = preview_change(self.tracker.workspace, request.tool, request.arguments)
        entry = self._cards.get(self._last_call or "")
        if entry is not None and diff:
            entry[0].proposed = diff  # a denied edit keeps its diff on the card
        shown = describe_arguments(request.arguments)
        arguments = f'<pre class="claw-approval-args" style="{PRE}">{esc(clip(show(shown)))}</pre>'
        details = (
            arguments
            if not diff
            else diff_html(diff)
            + (f'<details><summary style="{MUTED}">all arguments</summary>{arguments}</details>')
        )
        gist = call_gist(request.tool, request.arguments)
        prompt = w.HTML(
            f'<div style="{BOX}border-color:#e0a800;"><b>Approve {esc(request.tool)}</b> '
            f'<code class="claw-approval-gist">{esc(gist)}</code><b>?</b> '
            f'<span style="{MUTED}">{esc(show(request.reason))}</span>{details}'
            f"{self._offer_line(request)}</div>"
        )
        approve = w.Button(description="Approve", button_style="success", icon="check")
        deny = w.Button(description="Deny", button_style="danger", icon="times")
        reason = w.Text(placeholder="why not (optional, sent to the model with Deny)")
        reason.add_class("claw-deny-reason")
        approve.add_class("claw-yes")
        deny.add_class("claw-no")
        approve.on_click(lambda _b: self._answer_with("yes"))
        deny.on_click(lambda _b: self._answer_with(_refusal(reason.value)))
        buttons = [approve, deny]
        if request.offer is not None:
            always = w.Button(
                description="Always allow",
                button_style="info",
                icon="check-double",
                tooltip=f"Approve, and allow {show(request.offer)} for the rest of this "
                "conversation (%claw rules lists and drops it)",
            )
            always.add_class("claw-always")
            always.on_click(lambda _b: self._answer_with("always"))
            buttons.append(always)
        return prompt, w.HBox([*buttons, reason])

    def _offer_line(self, request: Any) -> str:
        """What "Always allow" adds, before anyone clicks it (or why there is no such button)."""
        if request.offer is None:
            return f'<div class="claw-offer" style="{MUTED}">{esc(_no_offer(request))}</div>'
        mode = (
            " (or <code>%%claw --mode accept-edits</code> for every edit)"
            if request.kind == "edit" and "accept-edits" in request.passes_in
            else ""
        )
        return (
            f'<div class="claw-offer" style="{MUTED}">Always allow <code>'
            f"{esc(show(request.offer))}</code>: for the rest of this conversation, such calls "
            f"run without asking; <code>%claw rules</code> lists and drops it{mode}</div>"
        )

    def _answer_with(self, answer: str) -> None:
        if self._answer is None:
            self._answer = answer
        self._answered.set()

    def _offer_code(self, text: str) -> None:
        """Copy and Insert-as-cell buttons under each code block of a finished text block."""
        from claw_nb.jupyter.code_blocks import code_blocks

        w = self._w
        for language, code in code_blocks(text):
            first = code.strip().splitlines()[0][:60]
            copy = w.Button(
                description="Copy",
                icon="copy",
                layout=w.Layout(width="auto"),
                tooltip="Copy this code to the clipboard",
            )
            insert = w.Button(
                description="Insert as cell",
                icon="plus",
                layout=w.Layout(width="auto"),
                tooltip="Insert this code as a new cell below this one",
            )
            copy.add_class("claw-copy")
            insert.add_class("claw-insert")
            copy.on_click(lambda _b, c=code: self._copy(c))
            insert.on_click(lambda _b, c=code, lang=language: self._insert(c, lang))
            label = w.HTML(f'<code style="{MUTED}">{esc(language)}: {esc(first)}</code>')
            row = w.HBox([label, copy, insert])
            row.add_class("claw-code-actions")
            self._append(row)

    def _copy(self, code: str) -> None:
        from claw_nb.jupyter.code_blocks import copy_script

        self._script(copy_script(code), clear_after=2.0)

    def _insert(self, code: str, language: str) -> None:
        from claw_nb.jupyter.code_blocks import cell_type_for, insert_script

        token = secrets.token_hex(6)
        self.inserted.append(code)
        self._script(
            insert_script(self.run_id, token, code, cell_type_for(language)), clear_after=2.0
        )

    def _offer_undo(self) -> None:
        """An "Undo this run" button under the finished run (its files and its turns)."""
        w = self._w
        button = w.Button(
            description="Undo this run",
            icon="undo",
            layout=w.Layout(width="auto"),
            tooltip="Restore the files this run changed and take its turns out of the "
            "conversation (files changed since by someone else are left alone)",
        )
        button.add_class("claw-undo")
        button.on_click(lambda _b: self._undo())
        self.undo_button = button
        self.widget.children = (*self.widget.children, button)

    def _undo(self) -> None:
        """The button's callback (on the kernel's main thread, idle between cells)."""
        self.undo_button.disabled = True
        try:
            done, lines = self.on_undo()
        except Exception as exc:  # noqa: BLE001 - shown under the transcript, one line
            done, lines = False, [f"undo failed: {type(exc).__name__}: {exc}"]
        self.undo_button.disabled = done
        for line in lines:
            self._note(line)
        self._save_static(final=True)

    def propose_cell(self, source: str, cell_type: str) -> str:
        """The agent proposes a cell (notebook_edit insert into this notebook): the front end
        inserts it below this run's cell, after the ones proposed before, unexecuted."""
        from claw_nb.jupyter.code_blocks import insert_script

        kind = "markdown" if cell_type == "markdown" else "code"
        skip = self._proposed
        self._proposed += 1
        self.inserted.append(source)
        self._script(
            insert_script(self.run_id, secrets.token_hex(6), source, kind, skip), clear_after=2.0
        )
        first = source.strip().splitlines()[0][:60] if source.strip() else ""
        self._note(f"proposed a {kind} cell below this one: {first}")
        return (
            f"Inserted a new {kind} cell into the open notebook, below the cell the user ran "
            "(unexecuted: the user decides whether to run it). Position arguments are "
            "ignored; cells proposed in one run keep their order."
        )
