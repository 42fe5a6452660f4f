"""The agent loop: ask the model, run the tool calls it made, feed results back, repeat.

The loop only orchestrates. It knows nothing about terminals, widgets or DuckDB: it emits
events (`claw_nb.events`) to listeners. Whatever the model sends, the loop does not crash:
bad calls go back to the model as tool results that say exactly what was wrong.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from claw_nb import events as ev
from claw_nb.config import ClawConfig
from claw_nb.context import MAX_CONTEXT_RETRIES, ContextManager
from claw_nb.context.manager import Conversation
from claw_nb.errors import ContextLengthExceeded, ModelError
from claw_nb.loop_guard import LoopGuard, advice_for
from claw_nb.outcomes import ErrorKind, StopReason, ToolOutcome
from claw_nb.permissions import confirm_quoted
from claw_nb.prompts import SystemPrompt, render_system_prompt
from claw_nb.protocols import Authorizer, Model, accepts_tool_progress
from claw_nb.toolcalls import ToolCall, coerce_arguments, validate_arguments
from claw_nb.toolcalls.quoted import QuotedCalls
from claw_nb.toolcalls.schema import import_jsonschema
from claw_nb.tools import Tool, ToolContext, ToolError, ToolRegistry, default_tools
from claw_nb.tools.base import ToolTimeout


@dataclass(frozen=True)
class RunResult:
    session_id: str
    stop_reason: StopReason
    final_answer: str | None
    steps: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.stop_reason == StopReason.COMPLETED


class Agent:
    """One conversation with a model. `run(task)` may be called again to continue it."""

    def __init__(
        self,
        config: ClawConfig,
        *,
        model: Model | None = None,
        tools: ToolRegistry | None = None,
        runner: Any = None,
        listeners: Iterable[ev.Listener] = (),
        authorize: Authorizer | None = None,
        session_id: str | None = None,
        history: list[dict[str, Any]] | None = None,
        resumed_from: str | None = None,
        owns: Iterable[Any] = (),
        checkpoints: Any = None,
    ) -> None:
        self.config = config
        self.resumed_from = resumed_from
        self._owned = list(owns)  # closed by close(): the event log `api.build_agent` made
        if model is None:
            from claw_nb.model import make_model

            model = make_model(config)
        self.model = model
        self.tools = tools if tools is not None else default_tools()
        if runner is None:  # the safe default: bubblewrap when usable, else plain (which asks)
            from claw_nb.sandbox import SandboxSettings, make_runner

            runner = make_runner(SandboxSettings.from_settings(config.settings), config.workspace)
        if authorize is None:  # the safe default: mode `ask`, nobody to ask, so it denies
            from claw_nb.permissions import PermissionPolicy

            authorize = PermissionPolicy.from_settings(
                config.settings,
                approver_name="nobody (no approver given)",
                sandboxed=bool(getattr(runner, "sandboxed", False)),
                workspace=str(config.workspace),
            )
        self.context = ToolContext(
            workspace=config.workspace,
            runner=runner,
            settings=config.settings,
            command_timeout=config.command_timeout,
        )
        self.listeners: list[ev.Listener] = list(listeners)
        self.authorize = authorize
        self._authorize_run = authorize  # `run(mode=...)` decides with a copy in that mode
        self.session_id = session_id or uuid.uuid4().hex[:16]
        self.messages: list[dict[str, Any]] = list(history or [])
        self.read = QuotedCalls.from_history(self.messages)  # a call copied from these: asks
        self._seq = len(self.messages)  # MessageAdded numbering; compaction never reuses a number
        self.steps = 0  # model calls in this conversation, across runs
        self._interrupt = threading.Event()
        self._broken_listeners: set[int] = set()
        self.system_prompt: SystemPrompt = render_system_prompt(
            config.workspace, self.tools, config.prompt_name
        )
        self.context_manager = ContextManager(
            config,
            self.model,
            Conversation(
                self.session_id,
                self.emit,
                steps=lambda: self.steps,
                todos=lambda: list(self.context.todos),
            ),
        )
        self.loop_guard = LoopGuard(config.loop_threshold, advice_for(config.api_base))
        # claw_nb.checkpoints: records what tool calls change, so `rewind` can put it back
        self.checkpoints = checkpoints
        if checkpoints is not None:
            checkpoints.attach(self)
            self.listeners.insert(0, checkpoints)
        # jsonschema (for argument validation) takes ~1 s to import: not in the first tool call.
        threading.Thread(target=_import_validator, daemon=True).start()

    # -- listeners --------------------------------------------------------------------------

    def subscribe(self, listener: ev.Listener) -> None:
        self.listeners.append(listener)

    def emit(self, event: ev.Event) -> None:
        """Deliver an event to every listener; a failing listener never stops the agent."""
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - a listener's bug must not stop the agent
                if id(listener) not in self._broken_listeners:
                    self._broken_listeners.add(id(listener))
                    warnings.warn(
                        f"claw_nb: event listener {listener!r} failed: {exc}", stacklevel=2
                    )

    def compact(self, focus: str | None = None) -> ev.ContextCompacted | None:
        """Summarise the older turns now (`%claw compact [focus]`); None if nothing to fold."""
        return self.context_manager.compact(self.messages, self.tools.specs(), focus=focus)

    def close(self) -> None:
        """Flush and close the log this agent owns (one made by `create_agent`)."""
        owned, self._owned = self._owned, []
        for resource in owned:
            resource.close()
        close_model = getattr(self.model, "close", None)
        if callable(close_model):
            close_model()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def interrupt(self) -> None:
        """Ask the run to stop at the next safe point (between model and tool calls).

        A Stop pressed before the run starts (a queued cell) is kept: the request is cleared
        only when a run ends, so the run it was meant for stops at once.
        """
        self._interrupt.set()

    # -- rewind (claw_nb.checkpoints) --------------------------------------------------------

    def rewind(self, step: int, *, files: bool = True, force: bool = False) -> Any:
        """Go back to the end of model call `step` (0: the start): later turns leave the
        conversation and, with `files`, the workspace files changed since are restored; a
        file someone else changed since is left alone unless `force`. Returns the report
        (`claw_nb.checkpoints.RewindReport`)."""
        if self.checkpoints is None:
            from claw_nb.checkpoints import CheckpointError

            raise CheckpointError("this agent records no checkpoints (checkpoints=False)")
        return self.checkpoints.rewind(self, step, files=files, force=force)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, task: str, *, max_steps: int | None = None, mode: str | None = None) -> RunResult:
        """Work on `task` until the model answers, `max_steps` model calls pass, or a stop.

        `max_steps` and `mode` apply to this run only. Model failures end the run with their
        kind as the stop reason; a bug in claw_nb itself is raised, after the run is closed.
        """
        authorize = self.authorize
        if mode is not None:
            with_mode = getattr(authorize, "with_mode", None)
            if with_mode is None:
                raise ValueError("mode= needs a PermissionPolicy as the agent's authorizer")
            authorize = with_mode(mode)  # for this run only; the shared policy is unchanged
        self._authorize_run = authorize
        try:
            return self._run(task, max_steps or self.config.max_steps)
        finally:
            self._interrupt.clear()  # the stop was for this run; the next one starts clean
            self._authorize_run = self.authorize

    def _run(self, task: str, max_steps: int) -> RunResult:
        bug: BaseException | None = None
        tool_specs = tuple(self.tools.specs())
        self.emit(
            ev.SessionStarted(
                session_id=self.session_id,
                model=self.model.name,
                workspace=str(self.config.workspace),
                task=task,
                system_prompt=self.system_prompt.text,
                system_prompt_sha=self.system_prompt.sha,
                system_prompt_name=self.system_prompt.name,
                resumed_from=self.resumed_from,
                tool_schemas=tool_specs,
                tool_schemas_sha=_schemas_sha(tool_specs),
            )
        )
        self.resumed_from = None  # only the first run after a resume continues another session
        if not self.messages:
            self._add_message({"role": "system", "content": self.system_prompt.text})
        self._add_message({"role": "user", "content": task})
        self.loop_guard.reset()
        stop_reason, final, error = StopReason.MAX_STEPS, None, None
        run_steps = 0
        try:
            while run_steps < max_steps:
                if self._interrupt.is_set():
                    stop_reason = StopReason.INTERRUPTED
                    break
                run_steps += 1
                self.steps += 1
                reply = self._ask_model()
                if not reply.tool_calls:
                    final = reply.content
                    stop_reason = (
                        StopReason.OUTPUT_TRUNCATED
                        if reply.finish_reason == "length"
                        else StopReason.COMPLETED
                    )
                    self.emit(ev.FinalAnswer(self.session_id, final))
                    break
                if not self._run_tool_calls(reply.tool_calls):
                    stop_reason = StopReason.INTERRUPTED
                    break
        except KeyboardInterrupt:
            stop_reason = StopReason.INTERRUPTED
            self._close_dangling_tool_calls("interrupted by the user")
        except ModelError as exc:
            stop_reason, error = StopReason(exc.kind), str(exc)
            self._close_dangling_tool_calls(f"not run: {error}")
            if stop_reason != StopReason.INTERRUPTED:
                self.emit(ev.ErrorOccurred(self.session_id, kind=stop_reason, message=error))
        except Exception as exc:  # noqa: BLE001 - a bug: close the session, then raise it
            stop_reason, error, bug = StopReason.ERROR, f"{type(exc).__name__}: {exc}", exc
            self._close_dangling_tool_calls(f"not run: {error}")
            self.emit(ev.ErrorOccurred(self.session_id, kind=stop_reason, message=error))
        if stop_reason == StopReason.MAX_STEPS:
            error = f"stopped after max_steps={max_steps} model calls"
        self.emit(ev.SessionEnded(self.session_id, stop_reason=stop_reason, steps=self.steps))
        if bug is not None:
            raise bug
        return RunResult(self.session_id, stop_reason, final, run_steps, error)

    def _add_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.emit(ev.MessageAdded(self.session_id, seq=self._seq, message=message))
        self._seq += 1

    def _ask_model(self):
        step = self.steps

        def on_text(text: str) -> None:
            self.emit(ev.TextDelta(self.session_id, step=step, text=text))

        def on_tool_progress(index: int, tool: str, chars: int) -> None:
            self.emit(ev.ToolCallProgress(self.session_id, step, index, tool, chars))

        progress = (
            {"on_tool_progress": on_tool_progress} if accepts_tool_progress(self.model) else {}
        )

        def on_retry(attempt: int, delay: float, why: str) -> None:
            self.emit(
                ev.ErrorOccurred(
                    self.session_id,
                    kind="retry",
                    message=f"attempt {attempt} failed ({why}); retrying in {delay:.1f}s",
                )
            )

        for attempt in range(MAX_CONTEXT_RETRIES + 1):
            self.context_manager.prepare(self.messages, self.tools.specs())  # may compact
            self.tools = self.context_manager.extend_tools(self.tools)  # read_output, once needed
            specs = self.tools.specs()
            started = time.perf_counter()
            try:
                reply = self.model.complete(
                    self.messages,
                    specs,
                    on_text=on_text,
                    on_retry=on_retry,
                    known_tools={tool.name: tool.parameters for tool in self.tools},
                    should_stop=self._interrupt.is_set,
                    **progress,
                )
                break
            except ContextLengthExceeded as exc:
                self._model_call_failed(step, exc, started)
                if attempt == MAX_CONTEXT_RETRIES or not self.context_manager.recover(
                    self.messages, specs, exc, attempt
                ):
                    raise
            except ModelError as exc:
                self._model_call_failed(step, exc, started)
                raise
        self.context_manager.observe(reply.prompt_tokens, reply.usage_source)
        self.emit(
            ev.ModelCallFinished(
                self.session_id,
                step=step,
                model=self.model.name,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                latency_ms=reply.latency_ms,
                ttft_ms=reply.ttft_ms,
                finish_reason=reply.finish_reason,
                usage_source=reply.usage_source,
                attempts=reply.attempts,
                streamed=reply.streamed,
                message_count=len(self.messages),
                cached_tokens=reply.cached_tokens,
                cost_usd=reply.cost_usd,
                params=dict(reply.params),
                parts=dict(self.context_manager.last_parts),
            )
        )
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.raw_arguments},
                }
                for call in reply.tool_calls
            ]
        self._add_message(message)
        return reply

    def _model_call_failed(self, step: int, exc: ModelError, started: float) -> None:
        """Log the failed call as a row of its own (`llm_calls.error`), with the counted size."""
        self.emit(
            ev.ModelCallFinished(
                self.session_id,
                step=step,
                model=self.model.name,
                prompt_tokens=self.context_manager.last_tokens,
                completion_tokens=0,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=None,
                finish_reason=None,
                usage_source="counted",
                attempts=exc.attempts,
                streamed=bool(self.config.stream) if exc.streamed is None else exc.streamed,
                message_count=len(self.messages),
                parts=dict(self.context_manager.last_parts),
                error=f"{exc.kind}: {exc}",
            )
        )

    def _run_tool_calls(self, calls: list[ToolCall]) -> bool:
        """Run calls in order; False when the user interrupted (remaining calls get a result)."""
        for index, call in enumerate(calls):
            if self._interrupt.is_set():
                for skipped in calls[index:]:
                    self._add_tool_result(skipped, _NOT_RUN)
                return False
            try:
                self._run_tool_call(call)
            except KeyboardInterrupt:
                self._add_tool_result(
                    call, ToolOutcome.failure(ErrorKind.INTERRUPTED, "interrupted by the user.")
                )
                for skipped in calls[index + 1 :]:
                    self._add_tool_result(skipped, _NOT_RUN)
                raise
        return True

    def _run_tool_call(self, call: ToolCall) -> None:
        step = self.steps
        self.emit(
            ev.ToolCallStarted(
                self.session_id,
                step=step,
                call_id=call.id,
                tool=call.name,
                arguments=call.arguments,
                raw_arguments=call.raw_arguments,
            )
        )
        started = time.perf_counter()
        todos_before = list(self.context.todos)
        decision = None
        arguments = call.arguments
        tool = self.tools.get(call.name)
        if call.error is not None:
            outcome = ToolOutcome.failure(ErrorKind.MALFORMED_JSON, call.error)
        elif tool is None:
            outcome = ToolOutcome.failure(
                ErrorKind.UNKNOWN_TOOL,
                f"there is no tool named '{call.name}'. "
                f"Available tools: {', '.join(self.tools.names())}.",
            )
        else:
            arguments = coerce_arguments(tool.parameters, arguments or {})
            problem = validate_arguments(tool.parameters, arguments)
            if problem is not None:
                outcome = ToolOutcome.failure(
                    ErrorKind.SCHEMA, f"invalid arguments for {tool.name}: {problem}", tool.kind
                )
            else:
                outcome, decision = self._execute(tool, arguments, call)
        duration = (time.perf_counter() - started) * 1000
        result = outcome.model_text
        full_size = len(result)
        sent = self.context_manager.clip_tool_result(call.name, arguments, result)
        outcome = replace(outcome, truncated=len(sent) < full_size)
        ok, error_kind = outcome.ok, outcome.error_kind
        sent = self.loop_guard.observe(call.name, arguments, sent)
        self.emit(
            ev.ToolCallFinished(
                self.session_id,
                step=step,
                call_id=call.id,
                tool=call.name,
                arguments=arguments,
                raw_arguments=call.raw_arguments,
                ok=ok,
                result=sent,
                error=None if ok else result,
                error_kind=error_kind,
                duration_ms=duration,
                decision=decision,
                result_chars=full_size,
                result_chars_sent=len(sent),
                dialect=call.dialect,
            )
        )
        if ok and self.context.todos != todos_before:  # whichever tool keeps the plan
            self.emit(ev.TodosUpdated(self.session_id, todos=tuple(self.context.todos)))
        self._add_tool_result(call, outcome, sent)
        self.loop_guard.raise_if_stuck()  # ModelStuck: the run stops, its reason `stuck`

    def _execute(
        self, tool: Tool, arguments: dict[str, Any], call: ToolCall
    ) -> tuple[ToolOutcome, str | None]:
        """(outcome, the authorizer's reason) for a call whose arguments are valid."""
        decision = None
        quote = self.read.find(call)  # a call the model copied from what it read
        authorize = self._authorize_run
        if authorize is not None or quote is not None:
            auth = (
                authorize(tool, arguments)
                if quote is None
                else confirm_quoted(authorize, tool, arguments, quote.reason())
            )
            decision = auth.reason
            if not auth.allowed:
                denied = f"permission denied: {auth.reason}"
                return ToolOutcome.failure(ErrorKind.DENIED, denied, tool.kind), decision
        try:
            return ToolOutcome(True, tool.run(self.context, arguments), kind=tool.kind), decision
        except ToolTimeout as exc:
            return ToolOutcome.failure(ErrorKind.TIMEOUT, str(exc), tool.kind), decision
        except ToolError as exc:
            return ToolOutcome.failure(ErrorKind.TOOL_ERROR, str(exc), tool.kind), decision
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool bug goes back to the model as an error
            crashed = f"{tool.name} failed with {type(exc).__name__}: {exc}"
            return ToolOutcome.failure(ErrorKind.TOOL_ERROR, crashed, tool.kind), decision

    def _add_tool_result(
        self, call: ToolCall, outcome: ToolOutcome, sent: str | None = None
    ) -> None:
        """The result as the model reads it (`sent`: clipped to its budget), and the outcome
        as data for the context manager."""
        content = outcome.model_text if sent is None else sent
        self.read.remember(call.name, content, {t.name: t.parameters for t in self.tools})
        self.context_manager.record_outcome(call.id, outcome)
        self._add_message(
            {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}
        )

    def _close_dangling_tool_calls(self, why: str) -> None:
        """Give every tool call of the last assistant message a result, so the history stays valid."""
        answered = set()
        for message in reversed(self.messages):
            if message.get("role") == "tool":
                answered.add(message.get("tool_call_id"))
                continue
            if message.get("role") == "assistant":
                for spec in message.get("tool_calls") or []:
                    if spec["id"] not in answered:
                        outcome = ToolOutcome.failure(ErrorKind.NOT_RUN, why)
                        self.context_manager.record_outcome(spec["id"], outcome)
                        self._add_message(
                            {
                                "role": "tool",
                                "tool_call_id": spec["id"],
                                "name": spec["function"]["name"],
                                "content": outcome.model_text,
                            }
                        )
            break


_NOT_RUN = ToolOutcome.failure(ErrorKind.NOT_RUN, "not run: the user stopped the agent.")


def _import_validator() -> None:
    try:
        import_jsonschema()
    except Exception:  # noqa: BLE001, S110 - validation imports it again and reports it
        pass


def _schemas_sha(specs: tuple[dict[str, Any], ...]) -> str:
    """The tool schemas' id in the log (sha256 prefix of their canonical JSON)."""
    import hashlib
    import json

    text = json.dumps(specs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
