"""Counting a trial as it runs: steps, tokens, the prompt tokens the server read, model time,
cache breaks and tool errors, from the agent's events (or a command-line agent's model calls
as the recording proxy saw them), told to a progress display as they change."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from claw_nb.lab.trial_records import TrialProgress


class TrialMeter:
    """The agent listener that counts steps, tokens, prefill, model time, cache breaks and tool
    errors as the trial runs."""

    def __init__(self, key: tuple, on_progress: Callable[[TrialProgress], None] | None):
        self.key = key
        self.on_progress = on_progress
        self.started = time.time()
        self.steps = self.prompt_tokens = self.completion_tokens = self.tool_errors = 0
        self.prefill_tokens = self.cache_breaks = 0
        self.model_s = 0.0

    def __call__(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "ModelCallFinished":
            self.steps = max(self.steps, int(event.step or 0))
            self.prompt_tokens += int(event.prompt_tokens or 0)
            self.completion_tokens += int(event.completion_tokens or 0)
            self.prefill_tokens += prefill_of(event)
            self.model_s += float(event.latency_ms or 0.0) / 1000.0
            self.cache_breaks += bool(event.cache_break)
            self._report()
        elif kind == "ToolCallFinished" and not event.ok:
            self.tool_errors += 1
        elif kind == "ContextCompacted" and event.summary_calls:
            # a summary request has a prompt of its own: the server reads all of it
            self.prefill_tokens += int(event.summary_prompt_tokens or 0)
            self.model_s += float(event.duration_ms or 0.0) / 1000.0

    def model_call(self, call: Any) -> None:
        """A command-line agent's model call, as the recording proxy saw it."""
        if call.path != "/chat/completions":
            return
        self.steps += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self._report()

    def verifying(self) -> None:
        """The agent has stopped: the tamper report and the verifier run now."""
        self._report(phase="verifying", phase_started=time.time())

    def _report(self, **phase: Any) -> None:
        """Tell `on_progress` (if any) the trial's latest step and token count."""
        if self.on_progress is not None:
            tokens = self.prompt_tokens + self.completion_tokens
            self.on_progress(TrialProgress(self.key, self.steps, tokens, self.started, **phase))


def prefill_of(call: Any) -> int:
    """The prompt tokens a model call made its server read: what the server says; else, for an
    answered call, its whole prompt (an upper bound); a failed call the server did not describe
    counts nothing. `llm_calls` rows and `ModelCallFinished` events both fit."""
    if call.prefill_tokens is not None:
        return int(call.prefill_tokens)
    return 0 if call.error else int(call.prompt_tokens or 0)
