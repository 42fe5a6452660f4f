"""The agent loop: ask the model, run the tool calls it made, feed results back, repeat.

The loop only orchestrates: `ModelTurn` makes each model call fit and logs it, `ToolDispatch`
runs the calls of a reply. It knows nothing about terminals, widgets or DuckDB: it emits events
(`claw_nb.events`) to listeners. Its model, command runner, authorizer and the user's hooks
(`claw_nb.hook_points`) are given to it (`claw_nb.api` decides the safe defaults); mode and step
limit are per run. Whatever the model sends, the loop does not crash: bad calls go back to the
model as results that say what was wrong.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any

from claw_nb import events as ev
from claw_nb.config import ClawConfig
from claw_nb.context import ContextManager
from claw_nb.context.manager import Conversation
from claw_nb.errors import HookStopped, ModelError
from claw_nb.hook_points import HookPoints
from claw_nb.loop_guard import LoopGuard, advice_for
from claw_nb.model_turn import ModelTurn, schemas_sha
from claw_nb.outcomes import StopReason
from claw_nb.prompts import SystemPrompt, render_system_prompt
from claw_nb.protocols import Authorizer, CommandRunner, Hooks, Model
from claw_nb.records import record
from claw_nb.stop import StopToken
from claw_nb.tool_dispatch import ToolDispatch
from claw_nb.toolcalls.quoted import QuotedCalls
from claw_nb.tools import ToolContext, ToolRegistry, default_tools
from claw_nb.tools.plan import PLAN_MODE_NOTE, exit_plan_mode


@record(frozen=True)
class RunResult:
    session_id: str
    stop_reason: StopReason
    final_answer: str | None
    steps: int
    error: str | None = None
    fixes: tuple[str, ...] = ()  # settings that would fix the error (`claw_nb.errors.Fix`)

    @property
    def ok(self) -> bool:
        return self.stop_reason == StopReason.COMPLETED


class Agent:
    """One conversation with a model. `run(task)` may be called again to continue it.

    `model`, `runner` and `authorize` are required: `claw_nb.create_agent` wires the safe ones
    (bubblewrap when usable, mode `ask` with an approver that denies). `stop` is the caller's
    stop token (a lab trial's, a subagent's parent's); the agent's own `interrupt()` stops only
    its current run. `system_prompt` replaces the one rendered from `config.prompt_name` (an
    agent definition's body).
    """

    def __init__(
        self,
        config: ClawConfig,
        *,
        model: Model,
        runner: CommandRunner,
        authorize: Authorizer | None,
        tools: ToolRegistry | None = None,
        listeners: Iterable[ev.Listener] = (),
        session_id: str | None = None,
        history: list[dict[str, Any]] | None = None,
        resumed_from: str | None = None,
        owns: Iterable[Any] = (),
        stop: StopToken | None = None,
        checkpoints: Any = None,
        system_prompt: SystemPrompt | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.config = config
        self.resumed_from = resumed_from
        self._owned = list(owns)  # closed by close(): the event log `api.build_agent` made
        self.model = model
        self.tools = tools if tools is not None else default_tools()
        self.context = ToolContext(
            workspace=config.workspace,
            runner=runner,
            settings=config.settings,
            command_timeout=config.command_timeout,
        )
        self.listeners: list[ev.Listener] = list(listeners)
        self.authorize = authorize
        self.session_id = session_id or os.urandom(8).hex()
        self.messages: list[dict[str, Any]] = list(history or [])
        self._seq = len(self.messages)  # MessageAdded numbering; compaction never reuses a number
        self.steps = 0  # model calls in this conversation, across runs
        self.stop = StopToken(stop)  # interrupt() stops it; cleared when a run ends
        self.context.stop = self.stop  # a command in progress is killed by a stop
        self._broken_listeners: set[int] = set()
        self.system_prompt: SystemPrompt = system_prompt or render_system_prompt(
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
                before_summary=lambda trigger, focus: self.hook_points.pre_compact(trigger, focus),
            ),
        )
        # the user's hooks (SessionStart ... SessionEnd): docs/hooks.md
        self.hook_points = HookPoints(hooks, self.session_id, self.emit, lambda: self.steps)
        # the advice looks for the embedded server: only once the model is stuck
        self.loop_guard = LoopGuard(config.loop_threshold, lambda: advice_for(config.api_base))
        self.turn = ModelTurn(
            self.session_id, self.model, self.context_manager, self.emit, stream=config.stream
        )
        self.dispatch = ToolDispatch(
            self.session_id,
            self.context,
            self.context_manager,
            self.loop_guard,
            QuotedCalls.from_history(self.messages),  # a call copied from these: asks
            self.emit,
            self._add_message,
            self.hook_points,
        )
        # claw_nb.checkpoints: records what tool calls change, so `rewind` can put it back
        self.checkpoints = checkpoints
        if checkpoints is not None:
            self.listeners.insert(0, checkpoints)

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

    def end_session(self, reason: str = "other") -> None:
        """The conversation is over: SessionEnd hooks run (once). `close()` calls it; the
        notebook calls it when it starts a new conversation or unloads."""
        self.hook_points.end(reason)

    def close(self) -> None:
        """End the session, then flush and close the log this agent owns (one made by
        `create_agent`)."""
        self.end_session()
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
        self.stop.stop("interrupted by the user")

    # -- rewind (claw_nb.checkpoints) --------------------------------------------------------

    def rewind(self, step: int, *, files: bool = True, force: bool = False) -> Any:
        """Go back to the end of model call `step` (0: the start): later turns leave the
        conversation and, with `files`, the workspace files changed since are restored; a
        file someone else changed since is left alone unless `force`. Returns the report
        (`claw_nb.checkpoints.RewindReport`)."""
        if self.checkpoints is None:
            from claw_nb.checkpoints import CheckpointError

            raise CheckpointError("this agent records no checkpoints (checkpoints=False)")
        return self.checkpoints.rewind(
            self.session_id, self.messages, step, files=files, force=force
        )

    # -- the loop ---------------------------------------------------------------------------

    def run(
        self,
        task: str,
        *,
        max_steps: int | None = None,
        mode: str | None = None,
        continue_from: list[dict[str, Any]] | None = None,
    ) -> RunResult:
        """Work on `task` until the model answers, `max_steps` model calls pass, or a stop.

        `max_steps` and `mode` apply to this run only. Model failures end the run with their
        kind as the stop reason; a bug in claw_nb itself is raised, after the run is closed.
        `continue_from`: a conversation that ends where the model speaks next (a fork of a
        logged trial, `claw_nb.lab.fork`), for an agent with no history yet: its messages
        become this session's first ones and no user message is added (`task` names it).
        """
        if continue_from is not None and self.messages:
            raise ValueError("continue_from needs an agent with no history")
        authorize = self.authorize
        with_mode = getattr(authorize, "with_mode", None)
        if mode is not None and with_mode is None:
            raise ValueError("mode= needs a PermissionPolicy as the agent's authorizer")
        if with_mode is not None:  # a copy for this run: an approved plan changes its mode only
            authorize = with_mode(mode or authorize.mode)
        if getattr(authorize, "mode", None) == "plan":
            task = f"{task}\n\n{PLAN_MODE_NOTE}"
            if exit_plan_mode.name not in self.tools:  # stays: later calls outside plan are refused
                self.tools = ToolRegistry([*self.tools, exit_plan_mode])
        try:
            return self._run(task, max_steps or self.config.max_steps, authorize, continue_from)
        finally:
            self.stop.clear()  # the stop was for this run; the next one starts clean

    def _run(
        self,
        task: str,
        max_steps: int,
        authorize: Authorizer | None,
        continue_from: list[dict[str, Any]] | None = None,
    ) -> RunResult:
        bug: BaseException | None = None
        self.tools = self.context_manager.extend_tools(self.tools)  # the set every call sends
        tool_specs = tuple(self.tools.specs())
        tools_sha = schemas_sha(tool_specs)
        self.turn.logged_tools_sha = tools_sha
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
                tool_schemas_sha=tools_sha,
            )
        )
        self.resumed_from = None  # only the first run after a resume continues another session
        resumed = bool(self.messages)
        for message in continue_from or ():
            self._add_message(message)
        if continue_from:
            self.dispatch.quoted = QuotedCalls.from_history(self.messages)
        if not self.messages:
            self._add_message({"role": "system", "content": self.system_prompt.text})
        stop_reason, final, error = StopReason.MAX_STEPS, None, None
        run_steps, stop_hook_active, fixes = 0, False, ()
        try:
            if continue_from is None:  # SessionStart, UserPromptSubmit
                prompt = self.hook_points.begin(task, resumed=resumed)
                self._add_message({"role": "user", "content": prompt})
            self.loop_guard.reset()
            while run_steps < max_steps:
                if self.stop.stopped:
                    stop_reason = StopReason.INTERRUPTED
                    break
                run_steps += 1
                self.steps += 1
                reply = self._ask_model()
                if not reply.tool_calls:
                    go_on = self.hook_points.stop(active=stop_hook_active)  # Stop hooks
                    if go_on is not None:
                        stop_hook_active = True
                        self._add_message({"role": "user", "content": go_on})
                        continue
                    final = reply.content
                    stop_reason = (
                        StopReason.OUTPUT_TRUNCATED
                        if reply.finish_reason == "length"
                        else StopReason.COMPLETED
                    )
                    self.emit(ev.FinalAnswer(self.session_id, final))
                    break
                ran_all = self.dispatch.run_calls(
                    reply.tool_calls,
                    tools=self.tools,
                    authorize=authorize,
                    step=self.steps,
                    stop=self.stop,
                )
                if not ran_all:
                    stop_reason = StopReason.INTERRUPTED
                    break
        except KeyboardInterrupt:
            stop_reason = StopReason.INTERRUPTED
            self.dispatch.close_dangling(self.messages, "interrupted by the user")
        except HookStopped as exc:  # a blocked prompt, or a hook's "continue": false
            stop_reason, error = StopReason.HOOK, str(exc)
            self.dispatch.close_dangling(self.messages, f"not run: {error}")
        except ModelError as exc:
            stop_reason, error, fixes = StopReason(exc.kind), str(exc), exc.fixes
            self.dispatch.close_dangling(self.messages, f"not run: {error}")
            if stop_reason != StopReason.INTERRUPTED:
                self.emit(
                    ev.ErrorOccurred(self.session_id, kind=stop_reason, message=error, fixes=fixes)
                )
        except Exception as exc:  # noqa: BLE001 - a bug: close the session, then raise it
            stop_reason, error, bug = StopReason.ERROR, f"{type(exc).__name__}: {exc}", exc
            self.dispatch.close_dangling(self.messages, f"not run: {error}")
            self.emit(ev.ErrorOccurred(self.session_id, kind=stop_reason, message=error))
        if stop_reason == StopReason.MAX_STEPS:
            error = f"stopped after max_steps={max_steps} model calls"
        self.emit(
            ev.SessionEnded(self.session_id, stop_reason=stop_reason, steps=self.steps, error=error)
        )
        if bug is not None:
            raise bug
        return RunResult(self.session_id, stop_reason, final, run_steps, error, fixes)

    def _add_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.emit(ev.MessageAdded(self.session_id, seq=self._seq, message=message, step=self.steps))
        self._seq += 1

    def _ask_model(self):
        """The next reply, added to the history as the assistant's message."""
        reply, self.tools = self.turn.ask(
            self.messages, self.tools, step=self.steps, stop=self.stop
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
