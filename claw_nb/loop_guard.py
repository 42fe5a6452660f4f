"""The loop guard: a model that repeats itself is told so, then stopped.

A small model can make the same call again and again, each time getting the same result: the
run then spends its steps and the user's minutes on nothing. The guard watches consecutive tool
calls; when the same call (tool and arguments) has returned the same result `loop_threshold`
times in a row (default 3), that result carries a plain note saying so; if the model makes the
call once more, the run stops with stop reason `stuck` and a message that says what to do.
Only consecutive repeats count: a different call in between starts over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from claw_nb.errors import ModelStuck

EMBEDDED_ADVICE = (
    "The embedded model is a demo: it shows the agent working, not solving tasks. Point claw_nb "
    "at a real model, e.g. `--model ollama_chat/qwen3-coder:30b`, or run `claw-nb models` to "
    "see what this machine has."
)
ADVICE = "Try a larger model, or say more precisely what to do."


class LoopGuard:
    """Counts identical consecutive (call, result) pairs in a run; see the module doc."""

    def __init__(self, threshold: int = 3, advice: str | Callable[[], str] = ADVICE) -> None:
        self.threshold = threshold
        self.advice = advice  # or a function that says it, asked only when the model is stuck
        self._last: str | None = None
        self._count = 0
        self._stuck: ModelStuck | None = None

    def reset(self) -> None:
        """Forget the last call (a new run starts)."""
        self._last, self._count, self._stuck = None, 0, None

    def observe(self, tool: str, arguments: Any, result: str) -> str:
        """The result to send back for this call: `result`, with a note on the threshold-th
        repeat. On a repeat after that, `raise_if_stuck` (called once the result is in the
        history) stops the run."""
        key = _key(tool, arguments, result)
        self._count = self._count + 1 if key == self._last else 1
        self._last = key
        if self._count == self.threshold:
            return (
                f"{result}\n\n[claw: this is the {_ordinal(self._count)} time in a row you made "
                "this exact call and got this same result. Do not make it again: use the result "
                "above, do something else, or answer in plain text.]"
            )
        if self._count > self.threshold:
            shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
            self._stuck = ModelStuck(
                f"the model called {tool} {_clip(shown)} {self._count} times in a row with the "
                f"same result, and went on after it was told. {self._advice()}"
            )
        return result

    def _advice(self) -> str:
        return self.advice() if callable(self.advice) else self.advice

    def raise_if_stuck(self) -> None:
        if self._stuck is not None:
            raise self._stuck


def advice_for(api_base: str | None) -> str:
    """What to tell the user when the model at `api_base` gets stuck."""
    from claw_nb.model import embedded

    if api_base and any(s.api_base == api_base for s in embedded.running_servers()):
        return EMBEDDED_ADVICE
    return ADVICE


def _key(tool: str, arguments: Any, result: str) -> str:
    text = json.dumps([tool, arguments], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(f"{text}\0{result}".encode("utf-8", "replace")).hexdigest()


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
