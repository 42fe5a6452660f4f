"""The log of one optimizer run: its `optimizer_runs` row and one `optimizer_steps` row per
event.

Every candidate (the seed, each proposal, each rejected one with its reason), its parent, its
scores and the reflection call that produced it land here, next to the trials that measured
it. The rows are written through `claw_nb.lab.store`, which opens the log per write and closes
it at once (the lab runner opens the same file between writes).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, get_args

from claw_nb.lab import optimizer_store
from claw_nb.records import record

StepStatus = Literal[
    "plan",  # the cost said before starting (only told to `on_step`, never stored)
    "seed",  # the seed's validation score
    "proposed",  # a text from the reflection model that passed the guards
    "rejected",  # a text a guard refused, with why
    "accepted",  # kept: better than its parent on the minibatch
    "not_accepted",  # not kept
    "validated",  # a kept candidate's validation score
    "resumed",  # the seed reported again when a run continues
    "held_out",  # the winner against the seed on held-out tasks
    "stopped",  # the run stopped before its end (it can be resumed)
]
STEP_STATUSES: tuple[str, ...] = get_args(StepStatus)
RunStatus = Literal["running", "stopped", "done"]


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@record
class Step:
    """One row of `optimizer_steps` (its `status`: a :data:`StepStatus`)."""

    run: str
    step: int
    status: StepStatus
    candidate: str | None = None
    parent: str | None = None
    component: str | None = None
    text_sha: str | None = None
    text: str | None = None
    reason: str | None = None
    train_score: float | None = None
    parent_score: float | None = None
    val_score: float | None = None
    rollouts: int | None = None
    reflection_model: str | None = None
    reflection_prompt: str | None = None
    reflection_reply: str | None = None
    reflection_tokens: int | None = None


class RunLog:
    """Registers one optimizer run and appends its steps to the DuckDB log."""

    def __init__(self, db_path: Path, run: str):
        self.db_path = Path(db_path)
        self.run = run
        self._next: int | None = None

    def start(self, kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """Register the run; return the config it was started with if it already exists."""
        return optimizer_store.start_run(self.db_path, self.run, kind, config)

    def finish(
        self, status: RunStatus, best_candidate: str | None = None, config: dict | None = None
    ) -> None:
        """Set the run's status and best candidate (and replace its config when given)."""
        optimizer_store.finish_run(self.db_path, self.run, status, best_candidate, config)

    def add(self, status: StepStatus, **values: Any) -> Step:
        """Append one step (numbered after the last one logged for this run)."""
        if status not in STEP_STATUSES:
            raise ValueError(f"unknown optimizer step status {status!r}")
        if self._next is None:
            self._next = optimizer_store.next_step(self.db_path, self.run)
        if values.get("text") is not None and values.get("text_sha") is None:
            values["text_sha"] = text_sha(values["text"])
        step = Step(run=self.run, step=self._next, status=status, **values)
        optimizer_store.insert_step(self.db_path, asdict(step))
        self._next += 1
        return step


def describe_step(event: dict[str, Any]) -> str | None:
    """A reflect event (`on_step`) as one progress line; None for the plan (shown before)."""
    status: StepStatus | None = event.get("status")
    if status == "validated":
        return (
            f"reflect: validation score {event['val_score']:.2f} (best so far "
            f"{event['best']:.2f}) after {event['rollouts']} rollouts"
        )
    if status == "rejected":
        reason = " ".join(str(event.get("reason") or "").split())
        return f"reflect: proposal for {event.get('component')} rejected by a guard: {reason}"
    if status == "proposed":
        return f"reflect: proposal {event.get('candidate')} for {event.get('component')}"
    if status == "accepted":
        return f"reflect: proposal {event.get('candidate')} kept: better on its minibatch"
    if status == "not_accepted":
        reason = " ".join(str(event.get("reason") or "").split())
        return f"reflect: proposal not kept{': ' + reason if reason else ''}"
    return None
