"""Plain-text rendering of agent events, for terminals and non-widget notebook front ends."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO, cast

from claw_nb import events as ev
from claw_nb.events import handles
from claw_nb.textsafe import show


def _one_line(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tool_progress_words(tool: str, chars: int) -> str:
    """What a live status line says while the model writes a tool call (`ToolCallProgress`):
    `model is writing a tool call: write_file (2.4 kB)`."""
    size = f"{chars / 1000:.1f} kB" if chars >= 1000 else f"{chars} chars"
    name = f": {tool}" if tool else ""
    return f"model is writing a tool call{name} ({size})"


def rule_note(e: ev.ToolCallFinished) -> str:
    """`, allowed by rule run_command(pytest *)` when a permission rule decided the call."""
    if e.rule is None:
        return ""
    return f", {'allowed' if e.error_kind != 'denied' else 'denied'} by rule {e.rule}"


def _is_terminal(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Margin:
    """A stream that starts every line with `margin`: a subagent's transcript, nested."""

    def __init__(self, out: TextIO, margin: str) -> None:
        self.out, self.margin, self._at_start = out, margin, True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._at_start:
                self.out.write(self.margin)
            self.out.write(piece)
            self._at_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False


SUBAGENT_MARGIN = "   | "


class TextPrinter(ev.EventDispatch):
    """Writes the work as it happens: streamed text, one line per tool call, the answer.

    On a terminal (`live`, by default when `out` is a TTY) a tool call the model is still
    writing shows as one status line that overwrites itself and is erased before the next real
    output; elsewhere (a pipe, a log file, a test) progress prints nothing, so output stays
    byte for byte what it was. A subagent's events (`claw_nb.events.SessionTree`) go to a
    printer of its own, whose lines start with a margin under the `task` call; `quiet` leaves
    them out, like the rest of the work.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        show_results: int = 6,
        quiet: bool = False,
        show_errors: bool = True,
        live: bool | None = None,
    ):
        self.out = out or sys.stdout
        self.show_errors = show_errors
        self.show_results = show_results
        self.quiet = quiet
        self.live = _is_terminal(self.out) if live is None else live
        self._streamed_step: int | None = None
        self._line_open = False
        self._status_open = False
        self.announce = True  # a line when the session starts
        self._tree = ev.SessionTree()
        self._children: dict[str, TextPrinter] = {}

    def __call__(self, event: ev.Event) -> None:
        child = self._tree.child(event)
        if child is not None:
            self._child_event(child, event)
            return
        handler = self.handler_for(event)
        if handler is not None:
            if self._status_open and not isinstance(event, ev.ToolCallProgress):
                self._clear_status()
            handler(event)
            self.out.flush()

    def _child_event(self, child: ev.ChildSession, event: ev.Event) -> None:
        """A subagent's event, to the printer of its depth-1 ancestor (which nests deeper ones)."""
        if self.quiet:
            return
        if self._status_open:
            self._clear_status()
        printer = self._children.get(child.top)
        if printer is None:
            self._write(
                f"   subagent {child.agent_name or 'general-purpose'}: session {child.session_id}"
            )
            margin = cast(TextIO, _Margin(self.out, SUBAGENT_MARGIN))
            printer = TextPrinter(out=margin, show_results=self.show_results, live=False)
            self._children[child.top] = printer
            printer.announce = False  # the line above says it
        printer(event)
        if isinstance(event, ev.SessionEnded) and child.depth == 1:
            printer._end_line()
            del self._children[child.top]

    def _end_line(self) -> None:
        if self._line_open:
            self.out.write("\n")
            self._line_open = False

    @handles(ev.ToolCallProgress)
    def _on_ToolCallProgress(self, e: ev.ToolCallProgress) -> None:
        if self.quiet or not self.live:
            return
        if self._line_open:  # streamed prose stays; the status goes on the line below it
            self.out.write("\n")
            self._line_open = False
        line = show(tool_progress_words(e.tool, e.chars))[: self._width() - 1]
        self.out.write("\r" + line + "\x1b[K")  # back to the line start, write, erase the rest
        self._status_open = True

    def _clear_status(self) -> None:
        self.out.write("\r\x1b[K")
        self._status_open = False

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return columns or 80  # a terminal that does not say its size (0) gets the classic width

    def _write(self, text: str) -> None:
        if self._line_open:
            self.out.write("\n")
            self._line_open = False
        self.out.write(show(text) + "\n")

    @handles(ev.SessionStarted)
    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        if not self.quiet and self.announce:
            self._write(f"claw: session {e.session_id} with {e.model} in {e.workspace}")

    @handles(ev.TextDelta)
    def _on_TextDelta(self, e: ev.TextDelta) -> None:
        if self.quiet:
            return
        self._streamed_step = e.step
        self.out.write(show(e.text))
        self._line_open = not e.text.endswith("\n")

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        if not self.quiet:
            args = e.arguments if e.arguments is not None else e.raw_arguments
            self._write(f"-> {e.tool} {_one_line(args)}")

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        if self.quiet:
            return
        status = "ok" if e.ok else f"error ({e.error_kind})"
        self._write(f"   {status} in {e.duration_ms:.0f} ms{rule_note(e)}")
        text = e.result if e.ok else (e.error or "")
        lines = text.splitlines()
        for line in lines[: self.show_results]:
            self._write("   | " + line[:200])
        if len(lines) > self.show_results:
            self._write(f"   | ... {len(lines) - self.show_results} more lines")

    @handles(ev.TodosUpdated)
    def _on_TodosUpdated(self, e: ev.TodosUpdated) -> None:
        if self.quiet:
            return
        marks = {"completed": "[x]", "in_progress": "[~]"}
        for item in e.todos:
            self._write(f"   {marks.get(item.get('status'), '[ ]')} {item.get('content', '')}")

    @handles(ev.ModelCallFinished)
    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        if not self.quiet:
            self._write(
                f"   [step {e.step}: {e.prompt_tokens} prompt + {e.completion_tokens} completion "
                f"tokens, {e.latency_ms:.0f} ms]"
            )

    @handles(ev.ContextCompacted)
    def _on_ContextCompacted(self, e: ev.ContextCompacted) -> None:
        if not self.quiet:
            self._write(
                f"   [context {e.method} ({e.reason}): {e.tokens_before:,} -> "
                f"{e.tokens_after:,} tokens, window {e.window:,}]"
            )

    @handles(ev.HookRan)
    def _on_HookRan(self, e: ev.HookRan) -> None:
        from claw_nb.hooks import describe_run

        line = describe_run(e)
        if line is not None and not self.quiet:
            self._write(f"   [{line}]")

    @handles(ev.FinalAnswer)
    def _on_FinalAnswer(self, e: ev.FinalAnswer) -> None:
        if self._streamed_step is not None and not self.quiet:
            return  # already on screen, streamed
        self._write(e.text)

    @handles(ev.ErrorOccurred)
    def _on_ErrorOccurred(self, e: ev.ErrorOccurred) -> None:
        if e.kind == "retry":
            if not self.quiet:
                self._write(f"   (model call {e.message})")
            return
        if self.show_errors:
            self._write(f"claw: error: {e.message}{self.fix_hint(e.fixes)}")

    def fix_hint(self, fixes: tuple[str, ...]) -> str:
        """The terminal's way to change the settings an error names (a notebook's differs)."""
        from claw_nb.cli.error_text import fix_hint

        return fix_hint(fixes)

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        if not self.quiet:
            self._write(f"claw: stopped ({e.stop_reason}) after {e.steps} steps")
