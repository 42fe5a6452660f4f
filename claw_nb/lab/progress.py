"""Progress of a lab run: shared state, and the terminal display of `claw-nb lab run`.

The runner calls a :class:`Progress` from its own thread (``start``, ``finished``,
``refresh`` a few times a second, ``end``) and trial workers call ``update`` from theirs, so
``update`` only records. Displays (this terminal one, the notebook view in
`claw_nb.jupyter.lab_view`) subclass :class:`Progress` and draw in ``refresh``.

Every trial of a run is in one state (:data:`TrialState`): queued until a worker takes it,
running (step n) while its agent works, verifying while the verifier judges it (the trial's
"verifying" progress event), then passed, failed, error or stuck; a trial cut by a stop is
stopped. :meth:`Progress.trial_rows` lists them, with times, for the displays.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Literal, TextIO

from claw_nb.lab.trials import TrialProgress, TrialResult
from claw_nb.outcomes import StopReason
from claw_nb.records import record

TrialState = Literal[
    "queued", "running", "verifying", "passed", "failed", "error", "stuck", "stopped"
]
TRIAL_STATES: tuple[TrialState, ...] = (
    "queued",
    "running",
    "verifying",
    "passed",
    "failed",
    "error",
    "stuck",
    "stopped",
)
# Stop reasons that say the trial could not be judged fairly (setup, server, credentials).
ERROR_STOPS = frozenset(
    {
        StopReason.ERROR,
        StopReason.MODEL_ERROR,
        StopReason.MODEL_UNREACHABLE,
        StopReason.AUTH,
        StopReason.EMBEDDED_MODEL_ERROR,
    }
)


def finished_state(result: TrialResult) -> TrialState:
    """passed, stuck (the loop guard ended it), error (it could not be judged) or failed."""
    if result.passed:
        return "passed"
    if result.stop_reason == StopReason.STUCK:
        return "stuck"
    if result.stop_reason in ERROR_STOPS:
        return "error"
    return "failed"


@record(frozen=True)
class TrialRow:
    """One trial as a display shows it. `seconds`: since it started (running), since its
    verifier started (verifying), its wall time (finished); None while queued."""

    key: tuple[str, str, str, int]
    state: TrialState
    step: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    reward: float | None = None
    reason: str = ""  # a finished trial's stop reason

    @property
    def label(self) -> str:
        return f"{self.key[1]} / {self.key[2]} #{self.key[3]}"


class Progress:
    """Thread-safe counters of a run; subclasses draw them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = self.skipped = self.slots = 0
        self.results: list[TrialResult] = []
        self.running: dict[tuple, TrialProgress] = {}
        self.planned: list[tuple] = []  # the keys this run will try, in submission order
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
            self.planned = []
            self.started = time.monotonic()
        self.restart()
        self.refresh()

    def queue(self, keys: list[tuple]) -> None:
        """The trials submitted, in order (they show as queued until a worker takes them)."""
        with self._lock:
            self.planned = list(keys)

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
        lines = []
        for row in self.trial_rows():
            if row.state == "running":
                lines.append(
                    f"  {row.label}: step {row.step}, {row.tokens:,} tokens, {row.seconds:.0f} s"
                )
            elif row.state == "verifying":
                lines.append(
                    f"  {row.label}: verifying ({row.step} steps, {row.tokens:,} tokens), "
                    f"{row.seconds:.0f} s"
                )
        return lines

    def trial_rows(self) -> list[TrialRow]:
        """Every trial of the run: verifying and running first, then the finished ones (the
        latest first), then the queued ones; after a stop, the cut ones as stopped."""
        now = time.time()
        with self._lock:
            results = list(self.results)
            running = sorted(self.running.values(), key=lambda p: p.key)
            planned = list(self.planned)
            stopped = self.stopped
        live = [TrialRow(p.key, p.phase, p.step, p.tokens, now - _since(p)) for p in running]
        live.sort(key=lambda row: row.state != "verifying")
        done = [
            TrialRow(
                r.key,
                finished_state(r),
                r.steps,
                r.prompt_tokens + r.completion_tokens,
                r.wall_s,
                r.reward,
                str(r.stop_reason),
            )
            for r in reversed(results)
        ]
        seen = {row.key for row in live} | {row.key for row in done}
        waiting = [
            TrialRow(key, "stopped" if stopped else "queued") for key in planned if key not in seen
        ]
        return live + done + waiting

    def state_counts(self) -> dict[TrialState, int]:
        """How many trials are in each state (every state, zeros included)."""
        counts: dict[TrialState, int] = dict.fromkeys(TRIAL_STATES, 0)
        for row in self.trial_rows():
            counts[row.state] += 1
        return counts


def _since(progress: TrialProgress) -> float:
    """When the trial's current phase began (a verifier's own time, not the trial's)."""
    if progress.phase == "verifying" and progress.phase_started is not None:
        return progress.phase_started
    return progress.started


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
