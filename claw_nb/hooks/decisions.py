"""What a hook's exit code and output mean, with Claude Code's semantics, and how the hooks of
one event add up.

- Exit 0: go on. Plain stdout of SessionStart and UserPromptSubmit becomes context for the
  model; JSON on stdout may decide (`decision`/`reason`, `continue`/`stopReason`,
  `systemMessage`, `hookSpecificOutput.permissionDecision` and `.additionalContext`).
- Exit 2: block. stderr is the reason: PreToolUse denies the call (the model reads why);
  Stop and SubagentStop send the agent back to work with it; PostToolUse hands it to the model
  with the result; UserPromptSubmit drops the prompt and shows it to the user. SessionStart,
  PreCompact and SessionEnd cannot block: the user sees stderr.
- Any other exit, a timeout, a hook that cannot start: the user is told; nothing is blocked.
"""

from __future__ import annotations

import json
from typing import Any

from claw_nb.hooks.runner import CommandRun
from claw_nb.hooks.settings import HookSpec
from claw_nb.protocols import HookDecision, HookOutcome, HookRun
from claw_nb.records import record

CONTEXT_EVENTS = ("SessionStart", "UserPromptSubmit", "PostToolUse")  # additionalContext
PLAIN_CONTEXT_EVENTS = ("SessionStart", "UserPromptSubmit")  # plain stdout is context
BLOCKING_EVENTS = ("UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop")
PERMISSION_DECISIONS = ("allow", "ask", "deny")
# PreToolUse: the strictest answer wins, as in Claude Code
_PRECEDENCE: dict[str, int] = {"none": 0, "allow": 1, "ask": 2, "deny": 3, "block": 3}
MAX_TEXT = 10_000  # context or a reason from one hook, at most (characters)


@record(frozen=True)
class Verdict:
    """One run, interpreted: the logged run, plus what it adds to the model's context and
    whether it ends the run (`continue: false`)."""

    run: HookRun
    context: str | None = None
    stop: str | None = None


def interpret(
    spec: HookSpec, result: CommandRun, *, tool: str | None = None, call_id: str | None = None
) -> Verdict:
    """The meaning of one hook run for its event."""
    event = spec.event
    decision: HookDecision = "none"
    reason = message = context = stop = None
    stderr = result.stderr.strip()
    if result.error is not None:
        message = f"{event} hook could not run: {result.error}"
    elif result.timed_out:
        message = f"{event} hook timed out after {spec.timeout:g} s and was killed"
    elif result.exit_code == 2:
        reason = _clip(stderr) or f"blocked by a {event} hook (exit 2, nothing on stderr)"
        if event == "PreToolUse":
            decision = "deny"
        elif event in BLOCKING_EVENTS:
            decision = "block"
        else:
            decision, reason, message = "none", None, f"{event} hook (exit 2): {reason}"
    elif result.exit_code != 0:
        message = f"{event} hook failed (exit {result.exit_code})" + (
            f": {_clip(stderr, 2000)}" if stderr else ""
        )
    else:
        output = _json_object(result.stdout)
        if output is None:
            if event in PLAIN_CONTEXT_EVENTS and result.stdout.strip():
                context = _clip(result.stdout.strip())
        else:
            decision, reason, context, stop, message = _from_json(event, output)
    run = HookRun(
        event=event,
        command=spec.command,
        source=spec.source,
        matcher=spec.matcher,
        exit_code=result.exit_code,
        duration_ms=result.duration_ms,
        decision=decision,
        reason=reason,
        message=message,
        stdout=result.stdout,
        stderr=result.stderr,
        timed_out=result.timed_out,
        tool=tool,
        call_id=call_id,
    )
    return Verdict(run, context, stop)


def _from_json(event: str, output: dict[str, Any]):
    """(decision, reason, context, stop, message) from a hook's JSON reply."""
    decision: HookDecision = "none"
    reason = context = stop = None
    specific = output.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    message = _text(output.get("systemMessage"))
    if output.get("continue") is False:
        stop = _text(output.get("stopReason")) or f"stopped by a {event} hook"
    if event in CONTEXT_EVENTS:
        context = _text(specific.get("additionalContext"))
    said = output.get("decision")
    if event == "PreToolUse":
        chosen = specific.get("permissionDecision")
        if chosen in PERMISSION_DECISIONS:
            decision = chosen
            reason = _text(specific.get("permissionDecisionReason"))
        elif said in ("approve", "block"):  # Claude Code's older spelling
            decision = "allow" if said == "approve" else "deny"
            reason = _text(output.get("reason"))
        if decision == "deny" and not reason:
            reason = "denied by a PreToolUse hook"
    elif event in BLOCKING_EVENTS and said == "block":
        decision = "block"
        reason = _text(output.get("reason")) or f"blocked by a {event} hook"
    return decision, reason, context, stop, message


def merge(verdicts: list[Verdict]) -> HookOutcome:
    """The event's outcome: the strictest decision (deny > ask > allow; block), the reasons of
    the hooks that made it, every context in order, and a stop if any hook asked for one."""
    if not verdicts:
        return HookOutcome()
    top = max(verdicts, key=lambda v: _PRECEDENCE[v.run.decision]).run.decision
    reasons = [v.run.reason for v in verdicts if v.run.decision == top and v.run.reason]
    stops = [v.stop for v in verdicts if v.stop]
    return HookOutcome(
        decision=top,
        reason="\n".join(reasons) or None,
        context=tuple(v.context for v in verdicts if v.context),
        stop="\n".join(stops) or None,
        runs=tuple(v.run for v in verdicts),
    )


def _json_object(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    return _clip(value.strip()) or None if isinstance(value, str) else None


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return (
        text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"
    )
