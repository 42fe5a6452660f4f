"""The agent loop's closed sets, said once: why a run stopped, why a tool call failed, and what
a tool call came to, as data.

Nothing downstream reads a prefix of a string to learn whether a call worked: the context
manager, the file ledger and the log get a `ToolOutcome`, and the text the model reads is
rendered from it in one place (`ToolOutcome.model_text`). The enums are `StrEnum`s, so the log
and older code that compare with plain strings keep working.
"""

from __future__ import annotations

from enum import StrEnum

from claw_nb.records import record


class StopReason(StrEnum):
    """Why a run ended (`RunResult.stop_reason`, `sessions.stop_reason`)."""

    COMPLETED = "completed"
    OUTPUT_TRUNCATED = "output_truncated"  # the server cut the final answer (finish "length")
    MAX_STEPS = "max_steps"
    INTERRUPTED = "interrupted"
    ERROR = "error"  # a bug in claw_nb: the session is closed and logged, then it is raised
    # model failures: `claw_nb.errors.ModelError.kind`
    MODEL_ERROR = "model_error"
    MODEL_UNREACHABLE = "model_unreachable"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    AUTH = "auth"
    MODEL_TIMEOUT = "model_timeout"
    REPLY_TOO_LONG = "reply_too_long"
    EMBEDDED_MODEL_ERROR = "embedded_model_error"
    STUCK = "stuck"  # the same call with the same result again and again (loop_threshold)
    HOOK = "hook"  # a hook stopped the run: a blocked prompt, or `"continue": false`
    # the lab: a trial that ran past its task's agent timeout
    TIMEOUT = "timeout"


class ErrorKind(StrEnum):
    """Why a tool call failed (`ToolCallFinished.error_kind`, `tool_calls.error_kind`)."""

    MALFORMED_JSON = "malformed_json"
    UNKNOWN_TOOL = "unknown_tool"
    SCHEMA = "schema"
    DENIED = "denied"
    TIMEOUT = "timeout"
    TOOL_ERROR = "tool_error"
    INTERRUPTED = "interrupted"
    NOT_RUN = "not_run"


ERROR_PREFIX = "Error: "


@record(frozen=True)
class ToolOutcome:
    """One tool call's result as data. `text` is the tool's output, or for a failure the
    message without any prefix; `kind` is the tool's kind ("read", "edit", "command", ...)."""

    ok: bool
    text: str
    error_kind: ErrorKind | None = None
    kind: str = ""
    truncated: bool = False

    @classmethod
    def failure(cls, error_kind: ErrorKind, message: str, kind: str = "") -> ToolOutcome:
        return cls(False, message, error_kind, kind)

    @property
    def model_text(self) -> str:
        """What the model reads: the output, or the message marked as an error."""
        return self.text if self.ok else ERROR_PREFIX + self.text


Outcomes = dict[str, ToolOutcome]  # tool_call_id -> outcome


def succeeded(message: dict, outcomes: Outcomes) -> bool:
    """Whether a tool message's call worked: its recorded outcome. A message with none (a
    history handed in by a caller, not run by this agent nor loaded from the log) is judged by
    the marker `model_text` puts on failures, the one place that reads it."""
    outcome = outcomes.get(str(message.get("tool_call_id")))
    if outcome is not None:
        return outcome.ok
    return not str(message.get("content") or "").startswith(ERROR_PREFIX.rstrip())
