"""The transcript as a static mimebundle that shows without a kernel.

JupyterLab does not save widget state by default, so a reopened notebook (or nbviewer, or GitHub)
shows nothing of a live widget transcript. Next to the widget the cell therefore gets one more
output, a plain `display_data` (text/html + text/markdown + text/plain) with a display id, which
the run keeps updated (`IPython.display.update_display` works from the agent's thread). While the
run goes, its header says the kernel stopped before the run ended: that is what is left in the
file if the kernel dies mid-run. A `<style>` in the HTML hides this copy while the live widget
is on the page and hides the dead widget ("model not found") when only the copy is left.
"""

from __future__ import annotations

import json

from claw_nb.jupyter.widget_html import BOX, MUTED, PRE, esc
from claw_nb.records import record

INTERRUPTED = "interrupted: the kernel stopped before this run ended"


@record
class Part:
    """One piece of a transcript in the three forms of the bundle."""

    html: str
    markdown: str
    plain: str


def markdown_html(text: str) -> str:
    """Markdown as HTML (raw HTML in it escaped); a <pre> when mistune is not installed."""
    try:
        import mistune
    except ImportError:
        return f'<pre style="{PRE}">{esc(text)}</pre>'
    render = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
    return str(render(text))


def text_part(text: str, css_class: str = "claw-text") -> Part:
    return Part(f'<div class="{css_class}">{markdown_html(text)}</div>', text, text)


def note_part(text: str, style: str = MUTED) -> Part:
    return Part(f'<div style="{style}">{esc(text)}</div>', f"*{text}*", text)


class StaticTranscript:
    """The parts of one run's transcript, in order, rendered as one mimebundle."""

    def __init__(self, run_id: str, task: str) -> None:
        self.run_id = run_id
        self.display_id = f"claw-static-{run_id}"
        self.parts: list[Part] = []
        first = task.strip().splitlines()[0] if task.strip() else ""
        self.add(
            Part(
                f'<details><summary style="{MUTED}">task: {esc(first[:100])}</summary>'
                f'<pre style="{PRE}">{esc(task)}</pre></details>',
                "> " + "\n> ".join(task.strip().splitlines() or [""]),
                f"task: {task.strip()}",
            )
        )

    def add(self, part: Part) -> int:
        self.parts.append(part)
        return len(self.parts) - 1

    def replace(self, index: int, part: Part) -> None:
        self.parts[index] = part

    def _style(self) -> str:
        rid = self.run_id
        return (
            "<style>"
            f".jp-OutputArea:has(.claw-live-{rid}:not(.claw-dead)) > "
            f".jp-OutputArea-child:has(.claw-static-{rid}){{display:none}}"
            f".claw-live-{rid}.claw-dead{{display:none}}"
            # the dead widget's output ("Loading widget...", "model not found") has no
            # data-mime-type of its own, unlike every other output of the cell
            f".jp-OutputArea:has(.claw-static-{rid}) > .jp-OutputArea-child"
            ":not(:has(.claw-transcript)):not(:has(.claw-static)):not(:has([data-mime-type]))"
            "{display:none}"
            "</style>"
        )

    def bundle(self, header: str, footer: Part | None = None) -> dict[str, str]:
        """text/html, text/markdown and text/plain of the whole transcript under `header`."""
        parts = [*self.parts, *([footer] if footer else [])]
        # a long transcript scrolls under its header; column-reverse opens it at its end (the
        # answer) without a script, which a reopened notebook may not run
        html = (
            self._style()
            + f'<div class="claw-static claw-static-{self.run_id}" style="{BOX}">'
            + f'<div class="claw-static-header">{esc(header)}</div>'
            + '<div class="claw-static-scroll" style="max-height:60em;overflow:auto;'
            'display:flex;flex-direction:column-reverse;"><div>'
            + "".join(p.html for p in parts)
            + "</div></div></div>"
        )
        markdown = f"**{header}**\n\n" + "\n\n".join(p.markdown for p in parts)
        plain = header + "\n" + "\n".join(p.plain for p in parts)
        return {"text/html": html, "text/markdown": markdown, "text/plain": plain}


_WATCHDOG = """
(function () {
  var rid = %s;
  window.__clawWatch = window.__clawWatch || {};
  if (window.__clawWatch[rid]) return;
  var last = null, since = Date.now();
  window.__clawWatch[rid] = setInterval(function () {
    var live = document.querySelector('.claw-live-' + rid);
    if (!live || live.classList.contains('claw-done')) {
      if (live) { clearInterval(window.__clawWatch[rid]); }
      return;
    }
    var status = live.querySelector('.claw-status');
    var state = live.querySelector('.claw-state');
    var text = status ? status.textContent : '';
    if (text !== last) { last = text; since = Date.now(); return; }
    var going = state && /^(running|waiting for you|stopping)/.test(state.textContent);
    if (going && Date.now() - since > %d) {
      live.classList.add('claw-dead');  // the static copy, which says interrupted, shows
      clearInterval(window.__clawWatch[rid]);
    }
  }, 1000);
})();
"""
SILENCE_MS = 15_000  # the header ticks every second while a run goes


def watchdog_script(run_id: str) -> str:
    """JavaScript that hides a live transcript whose kernel went silent (a restart, a crash)
    mid-run, so the static copy shows instead of "running" and a dead Stop button."""
    return _WATCHDOG % (json.dumps(run_id), SILENCE_MS)
