"""Progress of a lab run: shared state, and the terminal display of `claw-nb lab run`.

The runner calls a :class:`Progress` from its own thread (``start``, ``finished``,
``refresh`` a few times a second, ``end``) and trial workers call ``update`` from theirs, so
``update`` only records. Displays (this terminal one, the notebook view in
`claw_nb.jupyter.lab_view`) subclass :class:`Progress` and draw in ``refresh``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from claw_nb.lab.trials import TrialProgress, TrialResult


class Progress:
    """Thread-safe counters of a run; subclasses draw them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = self.skipped = self.slots = 0
        self.results: list[TrialResult] = []
        self.running: dict[tuple, TrialProgress] = {}
        self.started = time.monotonic()
        self.experiment = ""
        self.stopped = False

    # -- called by the runner and the workers --------------------------------------------------

    def start(self, experiment: str, total: int, skipped: int, slots: int) -> None:
        """A run begins; an optimizer reuses one display for its successive runs, so the
        counters start again."""
        with self._lock:
            self.experiment, self.total, self.skipped, self.slots = (
                experiment,
                total,
                skipped,
                slots,
            )
            self.results, self.running, self.stopped = [], {}, False
            self.started = time.monotonic()
        self.restart()
        self.refresh()

    def restart(self) -> None:
        """Forget what a display drew for the previous run (subclasses)."""

    def update(self, progress: TrialProgress) -> None:
        with self._lock:
            self.running[progress.key] = progress

    def finished(self, result: TrialResult) -> None:
        with self._lock:
            self.running.pop(result.key, None)
            self.results.append(result)

    def forget(self, key: tuple) -> None:
        """A trial that ended without a result (stopped or lost)."""
        with self._lock:
            self.running.pop(key, None)

    def refresh(self) -> None:
        """Redraw (subclasses); called a few times a second from the runner's thread."""

    def end(self, stopped: bool) -> None:
        self.stopped = stopped
        self.refresh()

    # -- derived figures -------------------------------------------------------------------------

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def todo(self) -> int:
        return self.total - self.skipped

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before the first trial finishes)."""
        if not self.done:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * max(self.todo - self.done, 0)

    def snapshot(self) -> tuple[list[TrialResult], list[TrialProgress]]:
        with self._lock:
            return list(self.results), sorted(self.running.values(), key=lambda p: p.key)

    def bar(self, width: int = 30) -> str:
        """``[#####.....] 12/36  3 skipped  0:42 elapsed  ETA 1:10``"""
        share = self.done / self.todo if self.todo else 1.0
        filled = int(round(share * width))
        eta = self.eta_s()
        parts = [f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.todo}"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        parts.append(f"{_clock(time.monotonic() - self.started)} elapsed")
        if eta is not None and self.done < self.todo:
            parts.append(f"ETA {_clock(eta)}")
        if self.done:
            mean = sum(r.reward for r in self.results) / self.done
            parts.append(f"mean reward {mean:.2f}")
        return "  ".join(parts)

    def running_lines(self) -> list[str]:
        now = time.time()
        _, running = self.snapshot()
        return [
            f"  {p.key[1]} / {p.key[2]} #{p.key[3]}: step {p.step}, {p.tokens:,} tokens, "
            f"{now - p.started:.0f} s"
            for p in running
        ]


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TerminalProgress(Progress):
    """A live block on a terminal (bar + a line per running trial), redrawn in place; on a
    pipe, one line per finished trial."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5):
        super().__init__()
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._drawn = 0
        self._last = 0.0
        self._printed = 0

    def restart(self) -> None:
        self._drawn = self._printed = 0  # a new run's block goes below the last one

    def refresh(self) -> None:
        if self.live:
            now = time.monotonic()
            if now - self._last < self.interval and not self.stopped:
                return
            self._last = now
            lines = [f"{self.experiment}: {self.bar()}", *self.running_lines()]
            clear = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
            self.stream.write(clear + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            results, _ = self.snapshot()
            for r in results[self._printed :]:
                self.stream.write(
                    f"{r.variant} / {r.task} #{r.repeat}: reward {r.reward:g} "
                    f"({r.stop_reason}, {r.steps} steps, {r.wall_s:.1f} s)\n"
                )
            self._printed = len(results)
        self.stream.flush()

    def end(self, stopped: bool) -> None:
        super().end(stopped)
        if not self.live:
            self.stream.write(f"{self.experiment}: {self.bar()}\n")
        if stopped:
            self.stream.write(
                "stopped: running trials were interrupted; run the same command "
                "again to resume (finished trials are kept)\n"
            )
        self.stream.flush()
