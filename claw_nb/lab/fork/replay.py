"""Replaying a trajectory's tool calls in a fresh workspace, with no model.

Each call that reached its tool in the original trial runs again through the same tool, with
the logged arguments, in the fork agent's own tool context (so its runner, sandbox and its
record of files read are the fork's) and under the fork agent's permission policy. A replayed
result that differs from the logged one is a divergence: the fork then starts from another
state than the original, and the fork's result says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any

from claw_nb.lab.fork.trajectory import LoggedCall
from claw_nb.outcomes import ERROR_PREFIX, ErrorKind, ToolOutcome
from claw_nb.records import record
from claw_nb.tools import ToolError
from claw_nb.tools.base import ToolTimeout


@record(frozen=True)
class Divergence:
    """A replayed call whose result is not the logged one."""

    step: int
    call_id: str
    tool: str
    logged: str
    replayed: str

    def summary(self, width: int = 60) -> str:
        def clip(text: str) -> str:
            one = " ".join(text.split())
            return one if len(one) <= width else one[: width - 1] + "…"

        return (
            f"step {self.step} {self.tool}: logged {clip(self.logged)!r}, "
            f"replayed {clip(self.replayed)!r}"
        )


@record
class ReplayReport:
    """What the replay did: calls run again, calls skipped (never ran originally), divergences."""

    replayed: int = 0
    skipped: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    outcomes: dict[str, ToolOutcome] = field(default_factory=dict)


def replay_calls(agent: Any, calls: Sequence[LoggedCall]) -> ReplayReport:
    """Run `calls` in order through `agent`'s tools, context and authorizer; compare results."""
    from claw_nb.tools import ToolRegistry, default_tools

    report = ReplayReport()
    fallback = ToolRegistry(default_tools())
    for call in calls:
        if not call.ran:
            report.skipped += 1
            continue
        tool = agent.tools.get(call.tool) or fallback.get(call.tool)
        outcome = _run(agent, tool, call)
        report.replayed += 1
        report.outcomes[call.call_id] = outcome
        text = outcome.model_text
        if not _same(call.row, outcome.ok, text):
            logged = call.row["result"] if call.row["ok"] else call.row["error"]
            report.divergences.append(
                Divergence(call.step, call.call_id, call.tool, str(logged or ""), text)
            )
    return report


def _run(agent: Any, tool: Any, call: LoggedCall) -> ToolOutcome:
    if tool is None:
        return ToolOutcome.failure(ErrorKind.UNKNOWN_TOOL, f"no tool named {call.tool!r} here")
    arguments = call.arguments
    authorize = agent.authorize
    if authorize is not None:
        auth = authorize(tool, arguments)
        if auth is not None and not auth.allowed:
            return ToolOutcome.failure(
                ErrorKind.DENIED, f"permission denied: {auth.reason}", tool.kind
            )
    context = agent.context
    context.call_id, context.authorize = call.call_id, authorize
    try:
        return ToolOutcome(True, tool.run(context, arguments), kind=tool.kind)
    except ToolTimeout as exc:
        return ToolOutcome.failure(ErrorKind.TIMEOUT, str(exc), tool.kind)
    except ToolError as exc:
        return ToolOutcome.failure(ErrorKind.TOOL_ERROR, str(exc), tool.kind)
    except Exception as exc:  # noqa: BLE001 - as the dispatch does: the tool's bug is a result
        return ToolOutcome.failure(
            ErrorKind.TOOL_ERROR, f"{tool.name} failed with {type(exc).__name__}: {exc}", tool.kind
        )
    finally:
        context.call_id = context.authorize = None


def _same(row: Any, ok: bool, text: str) -> bool:
    """Whether a replayed result is the logged one. The log keeps what the model was sent:
    a clipped result compares by its full length, a failure by its message."""
    if bool(row["ok"]) != ok:
        return False
    if not ok:
        logged = str(row["error"] or "")
        return logged == text or logged.removeprefix(ERROR_PREFIX) == text.removeprefix(
            ERROR_PREFIX
        )
    logged = str(row["result"] or "")
    if logged == text:
        return True
    full, sent = row["result_chars"], row["result_chars_sent"]
    clipped = full is not None and sent is not None and int(sent) < int(full)
    return clipped and len(text) == int(full)
