"""The counters and phase of one run, as the transcript's header shows them.

Steps are counted the way the log counts them (a model call that was stopped while streaming is
a step), tokens are this run's own (generated tokens, and the context the last call used out of
the model's window, not the sum of every prompt re-sent), time waiting for a person is kept
apart, and the phase says what the run is doing when nothing moves on the screen.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from claw_nb.cli.printer import tool_progress_words
from claw_nb.jupyter.widget_html import esc, stop_words
from claw_nb.outcomes import StopReason
from claw_nb.textsafe import show

PROGRESS_SECONDS = 0.5  # at most this often, a tool call's progress re-renders the header
_COLOURS = {"completed": "#1e7e34", "running": "#2f5f9e", "waiting for you": "#b35900"}
_NOT_FAILURES = (
    StopReason.COMPLETED,
    StopReason.INTERRUPTED,
    StopReason.MAX_STEPS,
    StopReason.HOOK,  # a blocked prompt is a decision, not a failure
)
#: The states a run ends in when it failed ("failed": it could not even be set up).
FAILED_STATES = frozenset(
    {"failed"} | {stop_words(reason) for reason in StopReason if reason not in _NOT_FAILURES}
)


def _seconds(value: float) -> str:
    value = int(value)
    return f"{value // 60}:{value % 60:02d}" if value >= 60 else f"{value} s"


def litellm_loaded() -> bool:
    """True once LiteLLM is imported (the notebook loads it in the background at %load_ext)."""
    module = sys.modules.get("litellm")
    return module is not None and hasattr(module, "completion")


class RunStatus:
    """What the header says about one run; updated from the agent's events."""

    def __init__(
        self, max_steps: int | None = None, model_layer_ready: Callable[[], bool] | None = None
    ) -> None:
        self.max_steps = max_steps
        self.model_layer_ready = model_layer_ready or litellm_loaded
        self.state = "starting"
        self.phase = "waiting for model"
        self.model = ""
        self.session = ""
        self.steps = 0
        self.tokens_out = 0
        self.context = 0
        self.window: int | None = None
        self.cost: float | None = None
        self.max_retries: int | None = None
        self.waiting_since: float | None = None
        self.waited = 0.0
        self._agent: Any = None
        self._steps_before = 0
        self._started: float | None = None
        self._ended: float | None = None
        self._calls = 0
        self._answered = 0  # model calls that brought a reply (failed ones are calls too)
        self.writing = False  # the phase says "model is writing a tool call: ..."
        self._progress_sent = 0.0

    def start(self, agent: Any) -> None:
        self._agent = agent
        self._steps_before = int(getattr(agent, "steps", 0) or 0)
        self._started = time.monotonic()
        config = getattr(agent, "config", None)
        self.max_retries = getattr(config, "max_retries", None)

    def saw_step(self, step: int, writing: bool = False) -> None:
        self.steps = max(self.steps, step - self._steps_before)
        if writing:
            self.phase = "model is writing"

    def writing_call(self, step: int, tool: str, chars: int) -> bool:
        """A tool call the model is still writing (`ToolCallProgress`) becomes the phase; True
        when the header should be sent now (at most every PROGRESS_SECONDS: the progress
        events come up to four times a second, and the ticker shows the newest figure)."""
        self.saw_step(step)
        self.phase = show(tool_progress_words(tool, chars))
        self.writing = True
        now = time.monotonic()
        if now - self._progress_sent < PROGRESS_SECONDS:
            return False
        self._progress_sent = now
        return True

    def call_written(self, phase: str) -> bool:
        """The call being written is complete, or the attempt failed: `phase` replaces the
        progress; True when the header changed."""
        if not self.writing:
            return False
        self.writing = False
        self.phase = phase
        return True

    def model_call(self, e: Any) -> None:
        self.writing = False
        self.saw_step(e.step)
        self._calls += 1
        if not getattr(e, "error", None):
            self._answered += 1
        self.tokens_out += e.completion_tokens
        self.context = e.prompt_tokens + e.completion_tokens
        if e.cost_usd is not None:
            self.cost = (self.cost or 0.0) + e.cost_usd
        if self.window is None:
            manager = getattr(self._agent, "context_manager", None)
            try:
                self.window = int(manager.window) if manager is not None else None
            except Exception:  # noqa: BLE001 - the window is a nicety in a header
                self.window = None
        self.phase = "waiting for model"

    def ended(self, total_steps: int) -> None:
        self.call_written("waiting for model")
        self.steps = max(self.steps, total_steps - self._steps_before)
        self._ended = time.monotonic()

    def elapsed(self) -> float | None:
        if self._started is None:
            return None
        return (self._ended or time.monotonic()) - self._started

    def current_phase(self) -> str:
        if self.waiting_since is not None:
            return "waiting for you"
        if self._calls == 0 and self.phase == "waiting for model" and not self.model_layer_ready():
            return "loading model layer"
        return self.phase

    def failed_start(self) -> bool:
        """The run failed before the model answered once (no model, an unreachable server, a
        refused key): the header says that, not 'step 1/50' and 0 tokens of work not done."""
        return self._answered == 0 and self.state in FAILED_STATES

    def _shown_state(self, state: str) -> str:
        """'failed to start: model unreachable' for a failed start; else `state`."""
        if not self.failed_start():
            return state
        return "failed to start" if state == "failed" else f"failed to start: {state}"

    def _figures(self) -> list[str]:
        step = f"step {self.steps}" + (f"/{self.max_steps}" if self.max_steps else "")
        parts = [step]
        parts.append(f"{self.tokens_out:,} tokens written")
        if self.context:
            window = f" / {self.window:,}" if self.window else ""
            parts.append(f"context {self.context:,}{window}")
        if self.cost:
            parts.append(f"${self.cost:.4f}")
        elapsed = self.elapsed()
        if elapsed is not None:
            parts.append(_seconds(elapsed))
        return parts

    def header_text(self, state: str) -> str:
        head = ["claw"] + [
            x for x in (self.model, f"session {self.session}" if self.session else "") if x
        ]
        if self.failed_start() and state == self.state:
            return " \u00b7 ".join([*head, self._shown_state(state)])
        return " \u00b7 ".join(head + self._figures() + [state])

    def header_html(self) -> str:
        parts = ["<b>claw</b>"]
        if self.model:
            parts.append(esc(self.model))
        if self.session:
            parts.append(f"session <code>{esc(self.session)}</code>")
        state = self.state
        if self.failed_start():  # nothing was done: say what failed, not 'step 1/50'
            parts.append(
                f'<span class="claw-state" style="color:#c0392b">'
                f"{esc(self._shown_state(state))}</span>"
            )
            return " \u00b7 ".join(parts)
        figures = self._figures()
        parts.append(f'<span class="claw-steps">{esc(figures[0])}</span>')
        parts.append(f'<span class="claw-tokens">{esc(" · ".join(figures[1:]))}</span>')
        shown = state
        if state == "running":
            shown = self.current_phase()
            state = "waiting for you" if shown == "waiting for you" else state
        colour = _COLOURS.get(state, "#8a5300")
        parts.append(f'<span class="claw-state" style="color:{colour}">{esc(state)}</span>')
        if shown != state:
            parts.append(
                f'<span class="claw-phase" style="color:var(--jp-ui-font-color2,#666)">'
                f"{esc(shown)}</span>"
            )
        return " \u00b7 ".join(parts)
