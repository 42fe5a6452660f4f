"""What a trial is and what it gives: the spec a worker runs (plain data, it travels to Ray
workers), its progress, its result (one row of the ``trials`` table) and its outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from claw_nb.lab.tasks import Task
from claw_nb.lab.variants import Variant
from claw_nb.records import record


@record(frozen=True)
class TrialResult:
    """What one trial measured (one row of the ``trials`` table)."""

    experiment: str
    variant: str
    task: str
    repeat: int
    reward: float
    passed: bool
    stop_reason: str
    steps: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    tool_errors: int
    session_id: str | None
    error: str | None
    verifier_output: str
    tamper: tuple[str, ...] = ()  # the tamper report's findings (claw_nb.lab.tamper)
    # prompt tokens the servers read (a call whose server does not say counts its whole
    # prompt; compaction summaries count theirs), seconds in model calls (summaries included),
    # requests that broke the prompt cache's prefix; None for trials recorded before these
    prefill_tokens: int | None = None
    model_s: float | None = None
    cache_breaks: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.experiment, self.variant, self.task, self.repeat)


@record(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial (plain data: it travels to Ray workers)."""

    experiment: str
    variant: Variant
    task: Task
    repeat: int
    model: str | None = None
    api_base: str | None = None
    api_key: str | None = None
    unsandboxed: bool = False
    options: Mapping[str, Any] = field(
        default_factory=dict, hash=False
    )  # other ClawConfig settings

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.experiment, self.variant.name, self.task.name, self.repeat)

    @property
    def trial_id(self) -> str:
        return trial_id(*self.key)


def trial_id(experiment: str, variant: str, task: str, repeat: int) -> str:
    """The trial's stable id (also the name of its agent session's prefix)."""
    text = json.dumps([experiment, variant, task, repeat])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


TrialPhase = Literal["running", "verifying"]
"""What a started trial is doing: its agent works, or the verifier judges what it left."""


@record(frozen=True)
class TrialProgress:
    """A running trial's phase, latest step and token count (for progress displays).

    `started` is when the trial started, `phase_started` when its phase did (both
    `time.time()`); a trial says "verifying" once, when its agent has stopped."""

    key: tuple[str, str, str, int]
    step: int
    tokens: int
    started: float
    phase: TrialPhase = "running"
    phase_started: float | None = None


@record(frozen=True)
class TrialOutcome:
    """A finished trial: its result, its journal (bytes of JSON lines) and whether its run was
    stopped while it ran or before it started (then it gets no `trials` row, so a resumed run
    does it again)."""

    result: TrialResult
    journal: bytes
    stopped: bool = False
