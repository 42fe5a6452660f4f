"""A logged trial's trajectory, cut at a step: the conversation before it and the tool calls to
replay.

Step k is the trial's k-th model call, so its reply is the conversation's k-th assistant
message (a trial runs without hooks, so nothing else adds model turns). Forking at step k keeps
every message before that reply; the calls to replay are the tool calls of steps 1..k-1, in the
order the assistant messages made them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from claw_nb.errors import LabError
from claw_nb.outcomes import ErrorKind
from claw_nb.records import record

# Calls that never reached their tool: nothing to replay (the logged result is the refusal).
NEVER_RAN = frozenset(
    {
        ErrorKind.MALFORMED_JSON,
        ErrorKind.UNKNOWN_TOOL,
        ErrorKind.SCHEMA,
        ErrorKind.DENIED,
        ErrorKind.NOT_RUN,
        ErrorKind.INTERRUPTED,
    }
)


class NothingToFork(LabError):
    """The session made no model call: it has no step to fork at."""


@record(frozen=True)
class LoggedCall:
    """One logged tool call of the trajectory (a `tool_calls` row, or None when unlogged)."""

    step: int
    call_id: str
    tool: str
    row: Mapping[str, Any] | None

    @property
    def ran(self) -> bool:
        """Whether the original call reached its tool (only those are replayed)."""
        if self.row is None:
            return False
        return self.row["ok"] or self.row["error_kind"] not in NEVER_RAN

    @property
    def arguments(self) -> dict[str, Any]:
        raw = self.row["arguments"] if self.row is not None else None
        value = json.loads(raw) if isinstance(raw, str) else raw
        return value if isinstance(value, dict) else {}


@record(frozen=True)
class Trajectory:
    """A logged session's messages and tool-call rows, with the step boundaries."""

    session_id: str
    messages: Sequence[dict[str, Any]]
    calls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """How many model calls the session made (its assistant messages)."""
        return len(self._reply_indexes())

    def _reply_indexes(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.get("role") == "assistant"]

    def check_step(self, step: int) -> None:
        """A LabError unless `step` is one of the session's steps."""
        if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= self.steps:
            raise LabError(
                f"--at-step {step} is outside session {self.session_id}, which has "
                f"{self.steps} step(s): give 1..{self.steps}"
            )

    def history_before(self, step: int) -> list[dict[str, Any]]:
        """The conversation as the model saw it when step `step` began (copies)."""
        self.check_step(step)
        end = self._reply_indexes()[step - 1]
        return [dict(m) for m in self.messages[:end]]

    def calls_before(self, step: int) -> list[LoggedCall]:
        """The tool calls of steps 1..step-1, in order."""
        self.check_step(step)
        out = []
        for number, index in enumerate(self._reply_indexes()[: step - 1], start=1):
            for spec in self.messages[index].get("tool_calls") or []:
                call_id = str(spec.get("id"))
                name = str((spec.get("function") or {}).get("name"))
                out.append(LoggedCall(number, call_id, name, self.calls.get(call_id)))
        return out

    def first_failing_step(self) -> int:
        """Where a failed trial went wrong, by one simple rule: the first step with a tool
        call that failed, else the last step (the reply that ended the trial)."""
        for number, index in enumerate(self._reply_indexes(), start=1):
            for spec in self.messages[index].get("tool_calls") or []:
                row = self.calls.get(str(spec.get("id")))
                if row is not None and not row["ok"]:
                    return number
        if not self.steps:
            raise NothingToFork(f"session {self.session_id} made no model call: nothing to fork")
        return self.steps
