"""Running the tool calls of one reply: check, authorize, run, clip, record, emit.

The agent loop hands each assistant message's calls here. Every call ends as a `ToolOutcome`
(data: ok, error kind, the tool's kind, truncated) and one tool message in the history, whatever
the model sent: a malformed or unknown call, arguments the schema refuses, a denial, a timeout or
a tool's own bug all go back to the model as a result it can act on. The loop guard sees each
result; a stop request leaves the remaining calls answered "not run". The user's PreToolUse
hooks speak before the permission policy, PostToolUse hooks after a call ran (docs/hooks.md). A
call that cannot succeed (a tool's `check`: an edit whose text is gone) gets its error before
anyone is asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from claw_nb import events as ev
from claw_nb.context import ContextManager
from claw_nb.hook_points import HookPoints
from claw_nb.loop_guard import LoopGuard
from claw_nb.outcomes import ErrorKind, ToolOutcome
from claw_nb.permissions import authorize_with_hook, confirm_quoted, may_precheck
from claw_nb.protocols import Authorization, Authorizer
from claw_nb.records import record
from claw_nb.stop import StopToken
from claw_nb.toolcalls import ToolCall, coerce_arguments, validate_arguments
from claw_nb.toolcalls.quoted import QuotedCalls
from claw_nb.tools import Tool, ToolContext, ToolError, ToolRegistry
from claw_nb.tools.base import ToolTimeout

NOT_RUN = ToolOutcome.failure(ErrorKind.NOT_RUN, "not run: the user stopped the agent.")
CANNOT_SUCCEED = "not asked: the call cannot succeed"  # the decision of a call its check refused


@record
class ToolDispatch:
    """The per-conversation parts a call needs; `run_calls` is called once per reply."""

    session_id: str
    context: ToolContext
    context_manager: ContextManager
    loop_guard: LoopGuard
    quoted: QuotedCalls  # results read so far: a text call copied from them asks first
    emit: Callable[[ev.Event], None]
    add_message: Callable[[dict[str, Any]], None]
    hooks: HookPoints

    def run_calls(
        self,
        calls: list[ToolCall],
        *,
        tools: ToolRegistry,
        authorize: Authorizer | None,
        step: int,
        stop: StopToken,
    ) -> bool:
        """Run `calls` in order; False when a stop came first (the rest are answered)."""
        for index, call in enumerate(calls):
            if stop.stopped:
                for skipped in calls[index:]:
                    self.add_result(skipped, NOT_RUN, tools=tools)
                return False
            try:
                self._run_call(call, tools=tools, authorize=authorize, step=step)
            except KeyboardInterrupt:
                interrupted = ToolOutcome.failure(ErrorKind.INTERRUPTED, "interrupted by the user.")
                self.add_result(call, interrupted, tools=tools)
                for skipped in calls[index + 1 :]:
                    self.add_result(skipped, NOT_RUN, tools=tools)
                raise
        return True

    def _run_call(
        self, call: ToolCall, *, tools: ToolRegistry, authorize: Authorizer | None, step: int
    ) -> None:
        known = tools.get(call.name)
        self.emit(
            ev.ToolCallStarted(
                self.session_id,
                step=step,
                call_id=call.id,
                tool=call.name,
                arguments=call.arguments,
                raw_arguments=call.raw_arguments,
                kind=known.kind if known is not None else "",
                primary_argument=known.primary_argument if known is not None else None,
            )
        )
        started = time.perf_counter()
        todos_before = list(self.context.todos)
        outcome, arguments, auth = self._outcome(call, tools, authorize)
        duration = (time.perf_counter() - started) * 1000
        result = outcome.model_text
        sent = self.context_manager.clip_tool_result(call.name, arguments, result)
        outcome = replace(outcome, truncated=len(sent) < len(result))
        if outcome.ok and arguments is not None:  # the call ran: PostToolUse hooks
            said = self.hooks.post_tool(call.name, arguments, result, call.id)
            sent = sent if said is None else f"{sent}\n\n{said}"
        sent = self.loop_guard.observe(call.name, arguments, sent)
        self.emit(
            ev.ToolCallFinished(
                self.session_id,
                step=step,
                call_id=call.id,
                tool=call.name,
                arguments=arguments,
                raw_arguments=call.raw_arguments,
                ok=outcome.ok,
                result=sent,
                error=None if outcome.ok else result,
                error_kind=outcome.error_kind,
                duration_ms=duration,
                decision=auth.reason if auth is not None else None,
                result_chars=len(result),
                result_chars_sent=len(sent),
                dialect=call.dialect,
                rule=auth.rule if auth is not None else None,
            )
        )
        if outcome.ok and self.context.todos != todos_before:  # whichever tool keeps the plan
            self.emit(ev.TodosUpdated(self.session_id, todos=tuple(self.context.todos)))
        self.add_result(call, outcome, sent, tools=tools)
        self.hooks.raise_if_stopped()  # a hook's "continue": false ends the run here
        self.loop_guard.raise_if_stuck()  # ModelStuck: the run stops, its reason `stuck`

    def _outcome(
        self, call: ToolCall, tools: ToolRegistry, authorize: Authorizer | None
    ) -> tuple[ToolOutcome, dict[str, Any] | None, Authorization | None]:
        """(outcome, the arguments as run, the authorizer's decision) for one call."""
        if call.error is not None:
            return ToolOutcome.failure(ErrorKind.MALFORMED_JSON, call.error), call.arguments, None
        tool = tools.get(call.name)
        if tool is None:
            unknown = f"there is no tool named '{call.name}'. Available tools: {', '.join(tools.names())}."
            return ToolOutcome.failure(ErrorKind.UNKNOWN_TOOL, unknown), call.arguments, None
        arguments = coerce_arguments(tool.parameters, call.arguments or {})
        problem = validate_arguments(tool.parameters, arguments)
        if problem is not None:
            invalid = f"invalid arguments for {tool.name}: {problem}"
            return ToolOutcome.failure(ErrorKind.SCHEMA, invalid, tool.kind), arguments, None
        outcome, decision = self._authorized_run(tool, arguments, call, authorize)
        return outcome, arguments, decision

    def _authorized_run(
        self, tool: Tool, arguments: dict[str, Any], call: ToolCall, authorize: Authorizer | None
    ) -> tuple[ToolOutcome, Authorization | None]:
        hook = self.hooks.pre_tool(tool.name, arguments, call.id)  # PreToolUse hooks
        quote = self.quoted.find(call)  # a call the model copied from what it read
        if hook.stop is not None:  # "continue": false: the run ends after this call
            stopped = f"not run: a PreToolUse hook stopped the run ({hook.stop})"
            return ToolOutcome.failure(ErrorKind.NOT_RUN, stopped, tool.kind), None
        asks = quote is not None
        if tool.check is not None and may_precheck(authorize, tool, arguments, hook.decision, asks):
            try:  # nobody is asked to approve a call that cannot succeed
                tool.check(self.context, arguments)
            except ToolError as exc:
                failed = ToolOutcome.failure(ErrorKind.TOOL_ERROR, str(exc), tool.kind)
                return failed, Authorization(False, CANNOT_SUCCEED)
        if quote is not None and hook.decision != "deny":
            auth = confirm_quoted(authorize, tool, arguments, quote.reason())
        else:
            auth = authorize_with_hook(authorize, tool, arguments, hook.decision, hook.reason)
        decision = auth
        if auth is not None and not auth.allowed:
            denied = f"permission denied: {auth.reason}"
            return ToolOutcome.failure(ErrorKind.DENIED, denied, tool.kind), decision
        self.context.call_id, self.context.authorize = call.id, authorize
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
        finally:
            self.context.call_id = self.context.authorize = None

    def add_result(
        self,
        call: ToolCall,
        outcome: ToolOutcome,
        sent: str | None = None,
        *,
        tools: ToolRegistry,
    ) -> None:
        """The result as the model reads it (`sent`: clipped to its budget), and the outcome
        as data for the context manager."""
        content = outcome.model_text if sent is None else sent
        self.quoted.remember(call.name, content, {t.name: t.parameters for t in tools})
        self.context_manager.record_outcome(call.id, outcome)
        self.add_message(
            {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}
        )

    def close_dangling(self, messages: list[dict[str, Any]], why: str) -> None:
        """Answer every unanswered call of the last assistant message, so the history stays
        valid for the next request."""
        answered = set()
        for message in reversed(messages):
            if message.get("role") == "tool":
                answered.add(message.get("tool_call_id"))
                continue
            if message.get("role") == "assistant":
                for spec in message.get("tool_calls") or []:
                    if spec["id"] not in answered:
                        outcome = ToolOutcome.failure(ErrorKind.NOT_RUN, why)
                        self.context_manager.record_outcome(spec["id"], outcome)
                        self.add_message(
                            {
                                "role": "tool",
                                "tool_call_id": spec["id"],
                                "name": spec["function"]["name"],
                                "content": outcome.model_text,
                            }
                        )
            break
