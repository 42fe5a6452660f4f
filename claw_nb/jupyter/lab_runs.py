"""Lab runs in the background of a kernel, so a `%claw lab run` cell returns at once.

Like `%%claw` with its widget view, the cell hands the run to a worker thread (a `RunQueue` of
its own: lab runs go one at a time, in order) and returns a :class:`LabRun` handle; the kernel
goes idle, so the view's Stop button is heard, and other cells run meanwhile. Each run has its
own `StopToken`: the Stop button, `%claw lab stop` and `handle.stop()` stop it; the trials
already finished are in the DuckDB log, so running the same experiment again resumes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from claw_nb.jupyter.run_queue import RunQueue
from claw_nb.stop import StopToken

STOP_REASON = "stopped from the notebook"


class LabRun:
    """A lab run started from a cell: its view, its stop token and, once done, its result
    (an Experiment for `lab run`, a Comparison or ReflectResult for `lab optimize`)."""

    def __init__(self, kind: str, name: str, view: Any) -> None:
        self.kind, self.name, self.view = kind, name, view
        self.token = StopToken()
        self.error: str | None = None
        self._future: Future | None = None

    # -- for the person at the notebook ------------------------------------------------------

    def stop(self, reason: str = STOP_REASON) -> None:
        """End the run at its next safe point (a queued one never starts)."""
        self.token.stop(reason)
        if self._future is not None and self._future.cancel():
            cancelled = getattr(self.view, "cancelled", None)
            if cancelled is not None:
                cancelled()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; its result (None if it failed: see `error`)."""
        if self._future is None:
            return None
        try:
            return self._future.result(timeout)
        except FutureTimeout:
            raise TimeoutError(f"lab run '{self.name}' is still going") from None
        except CancelledError:
            return None

    @property
    def done(self) -> bool:
        return self._future is not None and self._future.done()

    @property
    def result(self) -> Any:
        """The result once done (else None)."""
        if not self.done or self._future.cancelled():
            return None
        return self._future.result()

    @property
    def status(self) -> str:
        future = self._future
        if future is None or not (future.running() or future.done()):
            return "queued"
        if future.cancelled():
            return "cancelled"
        if not future.done():
            return "stopping" if self.token.stopped else "running"
        if self.error:
            return "failed"
        stopped = self.token.stopped or getattr(self.result, "stopped", False)
        return "stopped" if stopped else "done"

    def __repr__(self) -> str:
        view = self.view
        counts = f", {view.done}/{view.todo} trials" if getattr(view, "todo", 0) else ""
        error = f": {self.error}" if self.error else ""
        hint = "; .stop() or %claw lab stop to stop, .wait() for the result"
        return f"<lab {self.kind} '{self.name}': {self.status}{counts}{error}" + (
            f"{hint}>" if not self.done else ">"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


class LabRuns:
    """The kernel's background lab runs, one at a time in the order they were started."""

    def __init__(self) -> None:
        self._queue = RunQueue(name="claw-lab")
        self._runs: list[LabRun] = []

    def start(self, run: LabRun, work: Callable[[LabRun], Any]) -> LabRun:
        """Queue `work(run)` (it returns the run's result); returns `run` at once."""
        parent = _cell_parent()

        def job() -> Any:
            _send_output_to(parent)  # text printed by this run goes under its own cell
            if run.token.stopped:
                return None
            try:
                return work(run)
            except Exception as exc:  # noqa: BLE001 - shown in the view, one line
                run.error = " ".join(f"{type(exc).__name__}: {exc}".split())
                failed = getattr(run.view, "failed", None)
                if failed is not None:
                    failed(f"claw: {run.error}")
                return None

        run._future = self._queue.submit(job)
        self._runs = [r for r in self._runs if not r.done] + [run]
        ahead = self._queue.ahead_of(run._future)
        if ahead:
            run.view.queued(ahead)
        return run

    def active(self) -> list[LabRun]:
        """Runs going on or waiting, oldest first."""
        return [r for r in self._runs if not r.done]

    def stop_all(self) -> list[LabRun]:
        """Stop every run going on or waiting; returns them."""
        runs = self.active()
        for run in runs:
            run.stop()
        return runs

    def close(self, timeout: float = 10) -> None:
        """Stop everything and wait a little for the run in progress to reach a safe point."""
        self.stop_all()
        self._queue.close()
        self._queue.wait_idle(timeout=timeout)


def _cell_parent() -> Any:
    """The running cell's message header (ipykernel), so a thread's output can go under it."""
    stream = sys.stdout
    return getattr(stream, "parent_header", None) if hasattr(stream, "set_thread_parent") else None


def _send_output_to(parent: Any) -> None:
    if not parent:
        return
    for stream in (sys.stdout, sys.stderr):
        setter = getattr(stream, "set_thread_parent", None)
        if setter is not None:
            setter(parent)
