"""The live view of a lab run in a notebook: widgets in a live kernel, plain text otherwise.

Both are lab `Progress` displays (claw_nb.lab.progress): the runner calls them from its thread.
The widget view shows a progress bar with ETA, a Stop button (when the run goes on in the
background, so the kernel can hear the click), how many trials are in each state, a table of
the trials (queued, running at step n, verifying, passed/failed/error/stuck, with times), the
optimizers' step lines, and the leaderboard with its plot as trials finish. The text view
prints a line per finished trial, the bar now and then, and the leaderboard at the end.

`live_view()` picks one for the kernel it runs in; pass it as `progress=` to `lab.run`,
`optimize.compare` or `optimize.reflect` (notebooks/prompt_lab.ipynb does).
"""

from __future__ import annotations

import html
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from claw_nb.lab.progress import Progress, TrialRow, finished_state

LEADERBOARD_EVERY_S = 2.0
MAX_ROWS = 40  # trials listed in the widget's table; the rest are counted
STATE_COLOURS = {
    "queued": "#888",
    "running": "#1f6fb2",
    "verifying": "#7b3fa0",
    "passed": "#1a7f37",
    "failed": "#b3261e",
    "error": "#c56a00",
    "stuck": "#8a5a00",
    "stopped": "#888",
}
RESUME = "run the same cell again to resume (finished trials are kept)"


def live_view(stop: Callable[[], None] | None = None, boards: bool = True) -> Progress:
    """The lab view for this kernel: widgets in a Jupyter front end, text elsewhere.

    `stop`: what the widget's Stop button calls (only for a run in the background: a cell
    that waits keeps the kernel from hearing the click); `boards=False`: no leaderboard
    (reflect's many small runs)."""
    if widgets_here():
        return WidgetLabView(stop=stop, boards=boards)
    return TextLabView(boards=boards)


def widgets_here() -> bool:
    """A Jupyter kernel with a front end that draws widgets (JupyterLab, Notebook, Colab)."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = type(get_ipython()).__name__ == "ZMQInteractiveShell"
    return kernel and (bool(os.environ.get("JPY_SESSION_NAME")) or "google.colab" in sys.modules)


def step_line(event: dict[str, Any]) -> str | None:
    """An optimizer's step event (reflect's plan, proposals, scores) as one line, or None."""
    from claw_nb.lab.optimize.run_log import describe_step

    return describe_step(event)


def _counts_line(view: Progress) -> str:
    counts = view.state_counts()
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n)


def _finished_line(r: Any) -> str:
    return (
        f"{r.variant} / {r.task} #{r.repeat}: reward {r.reward:g}, {finished_state(r)} "
        f"({r.stop_reason}, {r.steps} steps, {r.wall_s:.1f} s)"
    )


class TextLabView(Progress):
    """Plain text (nbconvert, a terminal-less kernel): a line per finished trial, the bar and
    the trials' states every few seconds, the leaderboard at the end."""

    def __init__(self, every_s: float = 10.0, boards: bool = True, resume: str = RESUME):
        super().__init__()
        self.every_s = every_s
        self.boards = boards
        self.resume = resume
        self._printed = 0
        self._last_bar = time.monotonic()

    def restart(self) -> None:
        self._printed = 0

    def refresh(self) -> None:
        results, _ = self.snapshot()
        for r in results[self._printed :]:
            print(_finished_line(r), flush=True)
        self._printed = len(results)
        going = self.done < self.todo and (self.running or self.planned)
        if going and time.monotonic() - self._last_bar > self.every_s:
            self._last_bar = time.monotonic()
            print(f"{self.experiment}: {self.bar()}  ({_counts_line(self)})", flush=True)

    def step(self, line: str) -> None:
        """An optimizer's step (reflect's proposals and scores)."""
        print(line, flush=True)

    def on_step(self, event: dict[str, Any]) -> None:
        """`reflect(..., on_step=view.on_step)`: its steps as lines under the trials."""
        line = step_line(event)
        if line:
            self.step(line)

    def report(self, text: str) -> None:
        print(text, flush=True)

    def show(self, result: Any) -> None:
        """What a run ends with (the forks against their originals), as text."""
        print(result.text(), flush=True)

    def queued(self, ahead: int) -> None:
        print(f"queued: waiting for {ahead} lab run(s) to finish", flush=True)

    def failed(self, message: str) -> None:
        print(message, flush=True)

    def end(self, stopped: bool) -> None:
        super().end(stopped)
        print(f"{self.experiment}: {self.bar()}")
        if stopped:
            print(f"stopped: {self.resume}")
        results, _ = self.snapshot()
        if results and self.boards:
            from claw_nb.jupyter.lab_report import LabReport
            from claw_nb.lab import statistics

            print(LabReport(statistics.leaderboard(results)).text(), flush=True)


class WidgetLabView(Progress):
    """ipywidgets: bar with ETA and Stop, trial states, the trials' table, the leaderboard."""

    def __init__(
        self,
        stop: Callable[[], None] | None = None,
        boards: bool = True,
        resume: str = RESUME,
        show: bool = True,
    ) -> None:
        super().__init__()
        import ipywidgets as w
        from IPython.display import display

        self.boards = boards
        self.resume = resume
        self.bar_widget = w.IntProgress(
            min=0, max=1, value=0, description="trials", layout=w.Layout(width="45%")
        )
        self.status = w.HTML()
        self.stop_button = w.Button(
            description="Stop",
            button_style="warning",
            tooltip="stop at the next safe point (finished trials are kept)",
            layout=w.Layout(width="70px", display="" if stop else "none"),
        )
        self._stop = stop
        self.stop_button.on_click(lambda _button: self.request_stop())
        self.counts_html = w.HTML()
        self.trials_html = w.HTML()
        self.steps_html = w.HTML()
        self.board_html = w.HTML()
        self._steps: list[str] = []
        self.box = w.VBox(
            [
                w.HBox([self.bar_widget, self.stop_button, self.status]),
                self.counts_html,
                self.trials_html,
                self.steps_html,
                self.board_html,
            ]
        )
        self._board_at = 0.0
        self._board_count = -1
        self.latest_board: Any = None
        self._note = ""
        if show:
            display(self.box)

    # -- what the notebook asks --------------------------------------------------------------

    def request_stop(self) -> None:
        """The Stop button: ask the run to stop at its next safe point."""
        if self._stop is None:
            return
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping"
        self._note = "stopping at the next safe point\u2026"
        self._stop()
        self._draw_status()

    def queued(self, ahead: int) -> None:
        self._note = f"queued: waiting for {ahead} lab run(s) to finish"
        self._draw_status()

    def failed(self, message: str) -> None:
        self.bar_widget.bar_style = "danger"
        self.stop_button.layout.display = "none"
        self._note = message
        self._draw_status()

    def cancelled(self) -> None:
        self.stop_button.layout.display = "none"
        self._note = "cancelled before it started"
        self._draw_status()

    def step(self, line: str) -> None:
        """An optimizer's step (reflect's proposals and scores), the latest few shown."""
        self._steps = (self._steps + [line])[-12:]
        self.steps_html.value = _pre("\n".join(self._steps))

    def on_step(self, event: dict[str, Any]) -> None:
        """`reflect(..., on_step=view.on_step)`: its steps as lines in the view."""
        line = step_line(event)
        if line:
            self.step(line)

    def report(self, text: str) -> None:
        self.steps_html.value = _pre(text)

    def show(self, result: Any) -> None:
        """What a run ends with (the forks against their originals), where the leaderboard
        goes."""
        self.board_html.value = result._repr_html_()

    # -- what the runner calls ---------------------------------------------------------------

    def restart(self) -> None:
        self._board_count = -1

    def refresh(self) -> None:
        self.bar_widget.max = max(self.todo, 1)
        self.bar_widget.value = self.done
        self._draw_status()
        self.counts_html.value = html.escape(_counts_line(self))
        self.trials_html.value = trials_table(self.trial_rows())
        now = time.monotonic()
        if self.done != self._board_count and (
            now - self._board_at > LEADERBOARD_EVERY_S or self.done == self.todo
        ):
            self._board_at, self._board_count = now, self.done
            self._draw_board()

    def end(self, stopped: bool) -> None:
        super().end(stopped)
        self.bar_widget.bar_style = "warning" if stopped else "success"
        self.stop_button.layout.display = "none"
        self._note = f"stopped; {self.resume}" if stopped else "done"
        self._draw_status()
        self._draw_board()

    def _draw_status(self) -> None:
        text = self.bar(width=0).split("] ", 1)[-1] if self.experiment else ""
        parts = [html.escape(f"{self.experiment}: {text}" if self.experiment else "")]
        if self._note:
            parts.append(f"<b>{html.escape(self._note)}</b>")
        self.status.value = " &mdash; ".join(p for p in parts if p)

    def _draw_board(self) -> None:
        from claw_nb.jupyter.lab_report import LabReport
        from claw_nb.lab import statistics

        results, _ = self.snapshot()
        if not results or not self.boards:
            return
        self.latest_board = statistics.leaderboard(results)
        self.board_html.value = LabReport(self.latest_board)._repr_html_()


def _pre(text: str) -> str:
    return f"<pre style='margin:0;white-space:pre-wrap'>{html.escape(text)}</pre>"


def trials_table(rows: list[TrialRow], limit: int = MAX_ROWS) -> str:
    """The trials as an HTML table: trial, state, step, tokens, time, reward."""
    if not rows:
        return ""
    cell = "padding:0 8px;white-space:nowrap"
    lines = []
    for row in rows[:limit]:
        colour = STATE_COLOURS.get(row.state, "#000")
        state = f"running (step {row.step})" if row.state == "running" else row.state
        reason = row.reason.replace("_", " ")
        if row.state not in ("queued", "running", "verifying", "stopped") and reason != row.state:
            state += f" ({reason})"
        values = [
            html.escape(row.label),
            f"<span style='color:{colour}'>{html.escape(state)}</span>",
            "" if row.tokens is None else f"{row.tokens:,}",
            "" if row.seconds is None else f"{row.seconds:.1f} s",
            "" if row.reward is None else f"{row.reward:g}",
        ]
        lines.append("<tr>" + "".join(f"<td style='{cell}'>{v}</td>" for v in values) + "</tr>")
    more = len(rows) - limit
    if more > 0:
        lines.append(f"<tr><td colspan='5' style='{cell};color:#888'>and {more} more</td></tr>")
    head = "".join(
        f"<th style='{cell};text-align:left'>{h}</th>"
        for h in ("trial", "state", "tokens", "time", "reward")
    )
    return (
        "<table style='border-collapse:collapse;font-size:90%'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    )
