"""How a live transcript reaches the page: the widget, a static copy of it that outlives the
kernel (updated by display id), and a script output by which the view runs small scripts in the
page (`claw_nb.jupyter.page_scripts`). A mixin of `WidgetTranscript` (its widgets, run status
and change tracker)."""

from __future__ import annotations

import threading
from typing import Any

from claw_nb.jupyter.page_scripts import changed_paths, files_changed_script, transcript_script
from claw_nb.jupyter.static_copy import INTERRUPTED, Part, watchdog_script
from claw_nb.jupyter.widget_html import esc


def _publish(bundle: dict[str, Any], display_id: str, *, update: bool) -> None:
    """Show or replace a raw mimebundle by display id (through `IPython.display`, so tests
    without a front end can replace it)."""
    import IPython.display

    IPython.display.display(bundle, raw=True, display_id=display_id, update=update)


class TranscriptDisplay:
    """The widget's display, its static copy and its script channel."""

    def show(self) -> None:
        """Display the widget, its static copy (saying "interrupted" until the run ends) and
        the script channel, in the cell that runs now."""
        from IPython.display import display

        display(self._widget_bundle(), raw=True)
        _publish(self._static(INTERRUPTED), self.static.display_id, update=False)
        _publish(self._script_bundle(None), f"claw-js-{self.run_id}", update=False)
        self._shown = True

    def _widget_bundle(self) -> dict[str, Any]:
        """The widget's output with an empty text/plain: ipywidgets would put the widget's repr
        there (`VBox(children=(HBox(...`), which nbconvert, nbviewer and GitHub show when the
        widget state is not saved. The transcript's text is in the static copy beside it."""
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = ""
        return bundle

    def _script_bundle(self, js: str | None) -> dict[str, Any]:
        """The script output: while the run goes it always holds the watchdog (which gives the
        transcript up for dead when the kernel stops talking) and the transcript's page
        behaviour (both install once), plus `js` if any."""
        if not self._finished:
            js = watchdog_script(self.run_id) + transcript_script(self.run_id) + (js or "")
        return {"application/javascript": js, "text/plain": ""} if js else {"text/plain": ""}

    def _ipython_display_(self) -> None:
        self.show()

    def _static(self, state: str) -> dict[str, Any]:
        header = self.run.header_text(state)
        footer = None
        lines = self.tracker.summary_lines()
        if lines:
            footer = Part(
                "<div><b>changed</b><ul>"
                + "".join(f"<li><code>{esc(x)}</code></li>" for x in lines)
                + "</ul></div>",
                "**changed:** " + "; ".join(f"`{x}`" for x in lines),
                "changed: " + "; ".join(lines),
            )
        self.static_bundle = self.static.bundle(header, footer)
        return self.static_bundle

    def _save_static(self, final: bool = False) -> None:
        """Refresh the static copy; until the run ends its header says the kernel stopped."""
        if not self._shown:
            self._static(self.run.state if final else INTERRUPTED)
            return
        state = self.run.state if final else INTERRUPTED
        _publish(self._static(state), self.static.display_id, update=True)

    def _script(self, js: str | None, clear_after: float | None = None) -> None:
        """Run `js` in the page (through this run's script output); None clears it, and so
        does `clear_after` seconds, so a saved notebook does not run it again."""
        if self._shown:
            _publish(self._script_bundle(js), f"claw-js-{self.run_id}", update=True)
            if js and clear_after:
                timer = threading.Timer(clear_after, self._script, args=(None,))
                timer.daemon = True
                timer.start()

    def _tell_page_files(self, e: Any) -> None:
        """A finished file or notebook edit: editor tabs open on the file reload from disk (or
        say they cannot), through the page script and the lab extension."""
        paths = changed_paths(self.tracker.workspace, e.tool, e.arguments)
        if paths:
            self._script(files_changed_script(paths), clear_after=2.0)
