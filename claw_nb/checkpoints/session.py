"""One agent's checkpoints: the listener that records its changes and its turns, and the rewind
of both. `Agent(checkpoints=...)` subscribes it; `api.build_agent` makes it from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb import events as ev
from claw_nb.checkpoints.recorder import CheckpointRecorder
from claw_nb.checkpoints.store import CheckpointError, CheckpointStore
from claw_nb.checkpoints.turns import TurnMarks

if TYPE_CHECKING:
    from claw_nb.checkpoints.restore import RewindReport


class Checkpoints:
    """Records what an agent's tool calls change and where its turns begin; rewinds them."""

    def __init__(self, store: CheckpointStore, workspace: str | Path, live: Any = None) -> None:
        self.store = store
        self.live = live
        self.recorder = CheckpointRecorder(store, workspace, live)
        self.turns = TurnMarks()
        self._running = False

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.SessionStarted):
            self._running = True
        elif isinstance(event, ev.SessionEnded):
            self._running = False
        self.recorder(event)
        self.turns(event)

    @property
    def last_run_start(self) -> int | None:
        """The step count when the latest run (not undone yet) began; None before any run."""
        return self.turns.run_starts[-1] if self.turns.run_starts else None

    def rewind(
        self,
        session_id: str,
        messages: list[dict[str, Any]],
        step: int,
        *,
        files: bool = True,
        force: bool = False,
    ) -> RewindReport:
        """Back to the end of model call `step`: the later messages leave `messages` (the
        agent's list, cut in place) and, with `files`, the files changed after it are restored
        (see `rewind_files`)."""
        from claw_nb.checkpoints.restore import RewindReport, rewind_files

        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise CheckpointError(f"step must be a model call number >= 0, got {step!r}")
        if self._running:
            raise CheckpointError("a run is going: rewind once it has ended (or stop it first)")
        report = RewindReport(session_id, step, str(self.recorder.workspace), applied=True)
        if files and self.store.load(session_id) is not None:
            report = rewind_files(self.store, session_id, step, force=force, live=self.live)
        cut = self.turns.cut_index(messages, step)
        report.messages_dropped = len(messages) - cut
        del messages[cut:]
        self.turns.forget_runs_after(step)
        return report
