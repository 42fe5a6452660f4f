"""The seams of claw_nb, in one place: what the agent loop needs from the world.

`Model` answers, `CommandRunner` runs shell commands (sandboxed or not), `Authorizer` decides
whether a tool call may run (asking a person through an `Approver` when it must), and `Listener`
receives every event the loop emits. The loop depends only on these; the shells, the sandbox, the
log and the model adapter plug into them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from claw_nb.events import Event


class Model(Protocol):
    """One chat completion: messages and tool specs in, a `ModelReply` out.

    `on_tool_progress(index, name, chars)` is optional: a model that takes it reports, throttled,
    how far a streamed tool call has got (see `accepts_tool_progress`)."""

    name: str

    def complete(
        self,
        messages,
        tools,
        on_text=None,
        on_retry=None,
        known_tools=None,
        should_stop=None,
        on_tool_progress=None,
    ): ...


def accepts_tool_progress(model: Model) -> bool:
    """Whether `model.complete` takes `on_tool_progress` (models written before it do not)."""
    try:
        parameters = inspect.signature(model.complete).parameters
    except (TypeError, ValueError):
        return False
    return "on_tool_progress" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # negative: killed by that signal; under bubblewrap 128+N, as a shell
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: float
    stdout_bytes: int  # total bytes the command wrote, including any omitted middle part
    stderr_bytes: int
    output_file: str | None = None  # the full output (capped), when it was large
    killed_reason: str | None = None  # "timeout", "process limit (N)", "CPU time limit (N s)"...


class CommandRunner(Protocol):
    """Runs one shell command in the workspace; `sandboxed` says whether the OS confines it."""

    name: str
    sandboxed: bool

    def run(self, command: str, cwd: Path, timeout: float) -> CommandResult: ...


@dataclass(frozen=True)
class Authorization:
    """Whether a tool call may run, and why (the reason is logged on the call's row)."""

    allowed: bool
    reason: str


class ToolInfo(Protocol):
    """What an authorizer knows of a tool (`claw_nb.tools.base.Tool` is one)."""

    name: str
    kind: str


Authorizer = Callable[[ToolInfo, dict[str, Any]], Authorization]


@dataclass(frozen=True)
class ApprovalRequest:
    """What the user is asked to approve: the tool, its full arguments, and why it asks.

    `quoted` is set when the model copied the call from content it read (a file, a command's
    output): a view should say so, since the request may come from whoever wrote that text."""

    tool: str
    kind: str
    arguments: dict[str, Any]
    reason: str
    quoted: str | None = None


Approver = Callable[[ApprovalRequest], str]  # returns "yes", "no" or "always"

Listener = Callable[["Event"], None]
