"""The seams of claw_nb, in one place: what the agent loop needs from the world.

`Model` answers, `CommandRunner` runs shell commands (sandboxed or not), `Authorizer` decides
whether a tool call may run (asking a person through an `Approver` when it must), `Hooks` lets the
user's own programs watch and steer the loop at fixed points, and `Listener` receives every event
the loop emits. The loop depends only on these; the shells, the sandbox, the log, the hook runner
and the model adapter plug into them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from claw_nb.records import record

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
    complete = model.complete
    function = getattr(complete, "__func__", complete)
    try:
        return _takes_tool_progress(function)
    except TypeError:  # an unhashable callable: looked at every time
        return _takes_tool_progress.__wrapped__(function)


@functools.lru_cache(maxsize=64)
def _takes_tool_progress(complete: Callable[..., Any]) -> bool:
    """Per function (asked at every model call; `inspect.signature` costs ~0.2 ms)."""
    try:
        parameters = inspect.signature(complete).parameters
    except (TypeError, ValueError):
        return False
    return "on_tool_progress" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@record(frozen=True)
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
    """Runs one shell command in the workspace; `sandboxed` says whether the OS confines it.
    `stop` (a `claw_nb.stop.StopToken`, or any callable) turning true kills the command."""

    name: str
    sandboxed: bool

    def run(
        self, command: str, cwd: Path, timeout: float, stop: Callable[[], bool] | None = None
    ) -> CommandResult:
        """`stop()` turning true (the user's stop) kills the command, like its timeout."""


@record(frozen=True)
class Authorization:
    """Whether a tool call may run, and why (the reason is logged on the call's row); `rule`
    is the permission rule that decided it, when one did."""

    allowed: bool
    reason: str
    rule: str | None = None


class ToolInfo(Protocol):
    """What an authorizer knows of a tool (`claw_nb.tools.base.Tool` is one)."""

    name: str
    kind: str


Authorizer = Callable[[ToolInfo, dict[str, Any]], Authorization]


@record(frozen=True)
class ApprovalRequest:
    """What the user is asked to approve: the tool, its full arguments, and why it asks.

    `quoted` is set when the model copied the call from content it read (a file, a command's
    output): a view should say so, since the request may come from whoever wrote that text.
    `offer` is the rule an "always" answer adds (`claw_nb.rule_offer`), shown before the answer;
    None: "always" adds none (a view offers no such button). `mode` is the mode that asked, and
    `passes_in` the modes in which this call would have run without asking."""

    tool: str
    kind: str
    arguments: dict[str, Any]
    reason: str
    quoted: str | None = None
    offer: str | None = None
    mode: str = ""
    passes_in: tuple[str, ...] = ()


# An approver answers "yes", "always" (add the request's `offer`), "no", or "no: REASON" (the
# reason goes to the model with the denial).
Approver = Callable[[ApprovalRequest], str]

Listener = Callable[["Event"], None]


# -- hooks ------------------------------------------------------------------------------------

HookDecision = Literal["none", "allow", "ask", "deny", "block"]
"""What hooks decided: `none` lets the loop go on as usual; `allow` / `ask` / `deny` answer a
PreToolUse; `block` stops what the event announces (a prompt, a stop: see docs/hooks.md)."""


@record(frozen=True)
class HookRun:
    """One hook command's run, as data: the loop emits it as a `HookRan` event (and the log
    keeps it), whatever it decided."""

    event: str  # SessionStart, UserPromptSubmit, PreToolUse, ...
    command: str
    source: str  # the settings file it came from
    matcher: str | None
    exit_code: int | None  # None: it never exited by itself (timed out, could not start)
    duration_ms: float
    decision: HookDecision
    reason: str | None = None  # why it blocked or denied (the model or the user reads it)
    message: str | None = None  # for the user: a failure, stderr of exit 2, `systemMessage`
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    tool: str | None = None
    call_id: str | None = None


@record(frozen=True)
class HookOutcome:
    """What the hooks of one event came to, merged: the loop acts on this, never on exit codes.

    `context` is text for the model's context; `stop` (a hook's `"continue": false`) ends the
    run with that message for the user."""

    decision: HookDecision = "none"
    reason: str | None = None
    context: tuple[str, ...] = ()
    stop: str | None = None
    runs: tuple[HookRun, ...] = ()


class Hooks(Protocol):
    """The user's hooks (Claude Code's events), one method per event.

    `claw_nb.hooks.CommandHooks` runs the commands of the settings files; `NO_HOOKS` is the
    agent's default. An implementation never raises for a failing hook: a crash or a timeout is
    a `HookRun` with a message, and the loop goes on."""

    def session_start(self, session_id: str, *, source: str) -> HookOutcome: ...

    def user_prompt_submit(self, session_id: str, *, prompt: str) -> HookOutcome: ...

    def pre_tool_use(
        self, session_id: str, *, tool: str, tool_input: dict[str, Any], call_id: str
    ) -> HookOutcome: ...

    def post_tool_use(
        self,
        session_id: str,
        *,
        tool: str,
        tool_input: dict[str, Any],
        tool_response: dict[str, Any],
        call_id: str,
    ) -> HookOutcome: ...

    def stop(self, session_id: str, *, stop_hook_active: bool) -> HookOutcome: ...

    def subagent_stop(self, session_id: str, *, stop_hook_active: bool) -> HookOutcome: ...

    def pre_compact(self, session_id: str, *, trigger: str, focus: str | None) -> HookOutcome: ...

    def session_end(self, session_id: str, *, reason: str) -> HookOutcome: ...


class _NoHooks:
    """No hooks configured: every event goes on, nothing runs."""

    def _none(self, session_id: str, **details: Any) -> HookOutcome:
        return HookOutcome()

    session_start = user_prompt_submit = pre_tool_use = post_tool_use = _none
    stop = subagent_stop = pre_compact = session_end = _none

    def __repr__(self) -> str:
        return "NO_HOOKS"


NO_HOOKS: Hooks = _NoHooks()
