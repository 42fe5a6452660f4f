"""The transcript for front ends without widgets (terminal IPython, nbconvert, nbval).

`NotebookTextPrinter` is the plain-text printer plus diffs of edits and a closing summary.
Nothing here imports ipywidgets.
"""

from __future__ import annotations

from typing import Any, TextIO

from claw_nb import events as ev
from claw_nb.cli.printer import TextPrinter, rule_note
from claw_nb.events import handles
from claw_nb.jupyter.changes import ChangeTracker, preview_change
from claw_nb.textsafe import show

NO_WIDGETS = "policy: nobody to ask without widgets"


def refusal_words(request: Any) -> str:
    """Who refused a call in a text transcript, and what would let it run from the notebook:
    a mode in which it would not ask (`passes_in`), else the rule "always" would add."""
    if request is None:
        return NO_WIDGETS
    if request.passes_in:
        wider = request.passes_in[0]
        return (
            f"{NO_WIDGETS}; mode {wider} runs it: `%%claw --mode {wider}` (one cell) or "
            f"`%claw config mode={wider}` (this kernel)"
        )
    if request.offer is not None:
        return (
            f'{NO_WIDGETS}; to run it, allow "{request.offer}" in [permissions] of '
            ".claw/settings.toml, or run the cell where widgets show"
        )
    return f"{NO_WIDGETS}, and this asks in every mode: run the cell where widgets show"


class NotebookTextPrinter(TextPrinter):
    """The plain-text transcript: the terminal printer plus diffs of edits and a summary.

    It is also the run's approver: nobody can click anything, so what would ask is denied,
    and the denial names what would let it run (`refusal_words`).
    """

    def __init__(
        self,
        out: TextIO | None = None,
        quiet: bool = False,
        show_results: int = 6,
        markdown: bool = False,
    ):
        # no live status line: a notebook's output is not a terminal to overwrite
        super().__init__(out=out, show_results=show_results, quiet=quiet, live=False)
        self.markdown = markdown  # the final answer as rendered Markdown (a Jupyter kernel)
        self.tracker = ChangeTracker()
        self.denied = 0
        self.agent: Any = None
        self._pending = ""  # streamed text not yet written: it goes out a line at a time
        self._refused: Any = None  # the last request refused: the denial's words name it

    def __call__(self, event: ev.Event) -> None:
        held = (ev.TextDelta, ev.ToolCallProgress, ev.ModelCallFinished, ev.FinalAnswer)
        if not isinstance(event, held if self.markdown else (ev.TextDelta, ev.ToolCallProgress)):
            self._flush_text()
        super().__call__(event)

    def bind(self, agent: Any) -> None:
        self.agent = agent

    def fix_hint(self, fixes: tuple[str, ...]) -> str:
        """`%claw config ...`, not the terminal's flags."""
        from claw_nb.jupyter.error_text import fix_hint

        return fix_hint(fixes)

    def approve(self, request: Any) -> str:
        """Nobody can be asked: what would ask is denied."""
        self._refused = request
        return "no"

    @property
    def approver_label(self) -> str:
        """Who answered, as the denial's reason says it (read right after `approve`)."""
        return refusal_words(self._refused)

    @handles(ev.SessionStarted)
    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        self.tracker.workspace = e.workspace
        super()._on_SessionStarted(e)

    @handles(ev.TextDelta)
    def _on_TextDelta(self, e: ev.TextDelta) -> None:
        """Whole lines only: a notebook's output gets one stream message per line, not one per
        chunk of a few characters."""
        if self.quiet:
            return
        self._streamed_step = e.step
        self._pending += e.text
        if self.markdown:
            return  # held until we know whether this step's text is the final answer
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self.out.write(show(lines) + "\n")
            self._line_open = False

    def _flush_text(self) -> None:
        if self._pending:
            self.out.write(show(self._pending))
            self._line_open = not self._pending.endswith("\n")
            self._pending = ""

    @handles(ev.FinalAnswer)
    def _on_FinalAnswer(self, e: ev.FinalAnswer) -> None:
        if not self.markdown:
            super()._on_FinalAnswer(e)
            return
        text = (self._pending if self._pending.strip() else e.text or "").strip()
        self._pending = ""
        if not text:
            return
        from IPython.display import display

        self.out.flush()
        display({"text/markdown": text, "text/plain": text}, raw=True)

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        self.tracker.started(e)
        super()._on_ToolCallStarted(e)

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        change = self.tracker.finished(e)
        if e.error_kind == "denied":
            self.denied += 1
        if self.quiet:
            return
        if change is None:
            status = "ok" if e.ok else f"error ({e.error_kind})"
            self._write(f"   {status} in {e.duration_ms:.0f} ms{rule_note(e)}")
            lines = show(e.result if e.ok else (e.error or "")).splitlines()
            width = None if e.error_kind == "denied" else 200  # a denial says what to do: whole
            for line in lines[: self.show_results]:
                self._write("   | " + line[:width])
            if len(lines) > self.show_results:
                self._write(f"   | ... {len(lines) - self.show_results} more lines")
            if e.error_kind == "denied" and e.arguments:  # what was refused, not lost
                proposed = preview_change(self.tracker.workspace, e.tool, e.arguments)
                for line in (proposed or "").splitlines():
                    self._write("   " + line[:200])
            return
        self._write(f"   ok in {e.duration_ms:.0f} ms{rule_note(e)}: {change.label()}")
        for line in change.diff.splitlines():
            self._write("   " + line[:200])

    @handles(ev.ContextCompacted)
    def _on_ContextCompacted(self, e: Any) -> None:
        if not self.quiet:
            self._write(
                f"claw: context compacted ({e.method}, {e.reason}): {e.tokens_before} -> "
                f"{e.tokens_after} tokens"
            )

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        if not self.quiet:
            lines = self.tracker.summary_lines()
            if lines:
                self._write("claw: changed " + "; ".join(lines))
        super()._on_SessionEnded(e)
