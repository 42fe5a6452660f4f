"""The typed events the agent loop emits.

The loop knows nothing about terminals, widgets or DuckDB: printers, widgets and the log are
listeners that receive these plain, frozen dataclasses. Every event carries its session id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, field
from typing import Any

from claw_nb.records import record


def _now() -> float:
    return time.time()


@record(frozen=True)
class Event:
    session_id: str


@record(frozen=True)
class SessionStarted(Event):
    model: str
    workspace: str
    task: str
    system_prompt: str
    system_prompt_sha: str
    system_prompt_name: str = "default"
    resumed_from: str | None = None
    started_at: float = field(default_factory=_now)
    tool_schemas: tuple[dict[str, Any], ...] = ()  # the tool specs sent (logged once by sha)
    tool_schemas_sha: str | None = None
    # A subagent's session (`claw_nb.subagents`): the session and the `task` call that started
    # it, and the agent definition it runs (None: the general-purpose child).
    parent_session_id: str | None = None
    parent_call_id: str | None = None
    agent_name: str | None = None


@record(frozen=True)
class MessageAdded(Event):
    """A message appended to the conversation (OpenAI chat format), in order."""

    seq: int
    message: dict[str, Any]
    step: int = 0  # the conversation's model-call count when it was added


@record(frozen=True)
class TextDelta(Event):
    step: int
    text: str


@record(frozen=True)
class ModelCallFinished(Event):
    step: int
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    usage_source: str = "server"  # "server" or "counted"
    attempts: int = 1
    streamed: bool = False
    message_count: int = 0
    cached_tokens: int | None = None
    cost_usd: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)  # tokens split: system/tools/history/...
    error: str | None = None
    tool_schemas_sha: str | None = None  # the tool set this call sent
    tool_schemas: tuple[dict[str, Any], ...] | None = None  # its schemas, the first time only
    # what the server says it read (not from its cache) and its seconds; None: it did not say
    prefill_tokens: int | None = None
    prefill_s: float | None = None
    decode_s: float | None = None
    # the request does not extend the session's previous one: where it first differs
    # (claw_nb.request_prefix); the index is the message's position in the request
    cache_break: bool = False
    cache_break_index: int | None = None
    cache_break_role: str | None = None
    cache_break_reason: str | None = None


@record(frozen=True)
class ToolCallStarted(Event):
    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any] | None
    raw_arguments: str
    kind: str = ""  # the tool's kind ("read", "edit", ...); "" for an unknown tool
    primary_argument: str | None = None  # the argument naming what it acts on (a path)


@record(frozen=True)
class ToolCallFinished(Event):
    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any] | None
    raw_arguments: str
    ok: bool
    result: str
    error: str | None = None
    error_kind: str | None = None  # malformed_json/unknown_tool/schema/denied/tool_error/timeout
    duration_ms: float = 0.0
    decision: str | None = None  # permission decision, e.g. "allowed by rule run_command(pytest*)"
    result_chars: int = 0  # size before truncation
    result_chars_sent: int = 0  # size after truncation
    dialect: str = "native"  # how the call arrived: native, or the text dialect it was parsed from
    rule: str | None = None  # the permission rule that allowed or denied it, when one did


@record(frozen=True)
class TodosUpdated(Event):
    todos: tuple[dict[str, Any], ...]


@record(frozen=True)
class FinalAnswer(Event):
    text: str


@record(frozen=True)
class ErrorOccurred(Event):
    kind: str
    message: str
    fixes: tuple[str, ...] = ()  # settings that would fix it (`claw_nb.errors.Fix`)


@record(frozen=True)
class SessionEnded(Event):
    stop_reason: str  # completed / max_steps / interrupted / model_unreachable / error / ...
    ended_at: float = field(default_factory=_now)
    steps: int = 0
    error: str | None = None  # why a run that did not complete stopped, in a sentence


@record(frozen=True)
class ContextCompacted(Event):
    """The conversation was shortened to fit the model's window (`claw_nb.context`).

    Token figures are the request's size as counted before and after (tools included)."""

    reason: str  # threshold / context_error / manual
    method: (
        str  # prune (stale and old outputs cut, no model call) / summary (older turns summarised)
    )
    tokens_before: int
    tokens_after: int
    messages_before: int
    messages_after: int
    dropped: str  # what was dropped, shortened or summarised, one line per kind
    summary_tokens: int = 0
    summary: str = ""  # the summary text that replaced the older turns ("" for prune)
    focus: str | None = None  # `%claw compact FOCUS`
    window: int = 0  # the model's window in tokens, as used
    limit: int = 0  # the threshold in tokens that triggers compaction
    step: int = 0
    summary_calls: int = 0
    summary_prompt_tokens: int = 0
    summary_completion_tokens: int = 0
    duration_ms: float = 0.0
    at: float = field(default_factory=_now)


@record(frozen=True)
class HookRan(Event):
    """One of the user's hook commands ran (`claw_nb.hooks`): what it was given to decide on,
    how it ended and what it decided. Every run is logged (`hook_runs`), blocking or not."""

    step: int
    event: str  # SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, Stop, ...
    command: str
    source: str  # the settings file it came from
    matcher: str | None
    exit_code: int | None  # None: timed out or could not start
    duration_ms: float
    decision: str  # none / allow / ask / deny / block
    reason: str | None = None
    message: str | None = None  # what the user is shown: a failure, stderr, systemMessage
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    tool: str | None = None
    call_id: str | None = None
    at: float = field(default_factory=_now)

    @classmethod
    def of(cls, session_id: str, step: int, run: Any) -> HookRan:
        """The event for a `claw_nb.protocols.HookRun`."""
        return cls(session_id=session_id, step=step, **asdict(run))


Listener = Callable[[Event], None]


@record(frozen=True)
class ToolCallProgress(Event):
    """The model is still writing a tool call: how far it has got (throttled by the model layer).

    Transient: for the live views only; the log does not keep it. `tool` is "" while the name is
    not known yet; `chars` counts the call's arguments (or its markup, for a call written as
    text) received so far. The call's `ToolCallStarted` follows once it is complete."""

    step: int
    index: int
    tool: str
    chars: int


def handles(*kinds: type[Event]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a listener method as the handler of these event types (see `EventDispatch`)."""

    def mark(method: Callable[..., None]) -> Callable[..., None]:
        method.__handles__ = kinds  # type: ignore[attr-defined]
        return method

    return mark


class EventDispatch:
    """A listener whose methods say which events they take, with `@handles(SomeEvent)`.

    Handlers are found by the event's type, never by its class name: renaming an event class
    fails where a handler names it, instead of silently dropping the handler. A subclass may
    override a handler by defining a method of the same name.
    """

    _handlers: dict[type, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                for kind in getattr(member, "__handles__", ()):
                    table[kind] = name
        cls._handlers = table

    def handler_for(self, event: Event) -> Callable[[Any], None] | None:
        name = self._handlers.get(type(event))
        return getattr(self, name) if name is not None else None


@record(frozen=True)
class ChildSession:
    """A subagent's session as a listener sees it (`SessionTree.child`)."""

    session_id: str
    parent_session_id: str
    parent_call_id: str | None
    agent_name: str | None
    depth: int  # 1: a child of the listener's own run, 2: a grandchild, ...
    top: str  # the session of the depth-1 ancestor (itself at depth 1)


class SessionTree:
    """Tells a listener's own run's events from its subagents' (`claw_nb.subagents`).

    A subagent's events reach its parent's listeners under the child's own session id; the
    child's `SessionStarted` names its parent. The first `SessionStarted` a listener sees is
    its own run's (a listener serves one run, or one run at a time); a later one whose parent
    is that run or one of its children starts a child.
    """

    def __init__(self) -> None:
        self.own: str | None = None
        self._children: dict[str, ChildSession] = {}

    def child(self, event: Event) -> ChildSession | None:
        """The child session `event` belongs to; None for the listener's own run."""
        if isinstance(event, SessionStarted):
            parent = event.parent_session_id
            if self.own is None or event.session_id == self.own:
                self.own = event.session_id
            elif parent is not None and (parent == self.own or parent in self._children):
                above = self._children.get(parent)
                self._children[event.session_id] = ChildSession(
                    session_id=event.session_id,
                    parent_session_id=parent,
                    parent_call_id=event.parent_call_id,
                    agent_name=event.agent_name,
                    depth=above.depth + 1 if above else 1,
                    top=above.top if above else event.session_id,
                )
        return self._children.get(event.session_id)
