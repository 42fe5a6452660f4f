"""The loop's side of the user's hooks: where each event fires and what its outcome does.

The Agent, `ToolDispatch` and the context manager call these points; the `Hooks` behind them
(`NO_HOOKS` unless `claw_nb.api` found some) decide, and know nothing of the loop. Every hook
run becomes a `HookRan` event, whatever it decided. The text a hook adds for the model is
rendered here, in one place; a hook's `"continue": false` is kept until the loop reaches a
point where it can stop cleanly (`raise_if_stopped`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_nb import events as ev
from claw_nb.errors import HookStopped
from claw_nb.protocols import NO_HOOKS, HookOutcome, Hooks


def with_context(text: str, contexts: list[tuple[str, str]]) -> str:
    """`text` followed by what hooks added, each part labelled with the hook it came from."""
    parts = [text, *(f"[{label}]\n{context}" for label, context in contexts)]
    return "\n\n".join(part for part in parts if part)


class HookPoints:
    """The hook calls of one conversation, with its session id and where events go."""

    def __init__(
        self,
        hooks: Hooks | None,
        session_id: str,
        emit: Callable[[ev.Event], None],
        steps: Callable[[], int],
    ) -> None:
        self.hooks: Hooks = hooks if hooks is not None else NO_HOOKS
        self.session_id = session_id
        self.emit = emit
        self.steps = steps
        self.state = "new"  # new -> started (SessionStart fired) -> ended (SessionEnd fired)
        self._stop: str | None = None

    def _report(self, outcome: HookOutcome, *, may_stop: bool = True) -> HookOutcome:
        for run in outcome.runs:
            self.emit(ev.HookRan.of(self.session_id, self.steps(), run))
        if may_stop and outcome.stop and self._stop is None:
            self._stop = outcome.stop
        return outcome

    def raise_if_stopped(self) -> None:
        """End the run (HookStopped) if a hook said `"continue": false` since the last check."""
        stop, self._stop = self._stop, None
        if stop is not None:
            raise HookStopped(stop)

    def begin(self, prompt: str, *, resumed: bool) -> str:
        """The user message for `prompt`. SessionStart fires on a conversation's first run
        (source `resume` when it continues a history), then UserPromptSubmit; the context
        they print joins the prompt. Raises HookStopped when the prompt is blocked."""
        contexts: list[tuple[str, str]] = []
        if self.state != "started":
            source = "resume" if resumed or self.state == "ended" else "startup"
            self.state = "started"
            start = self._report(self.hooks.session_start(self.session_id, source=source))
            contexts += [("SessionStart hook context", c) for c in start.context]
            self.raise_if_stopped()
        submit = self._report(self.hooks.user_prompt_submit(self.session_id, prompt=prompt))
        if submit.decision == "block":
            self._stop = None
            raise HookStopped(f"a UserPromptSubmit hook blocked the prompt: {submit.reason}")
        self.raise_if_stopped()
        contexts += [("UserPromptSubmit hook context", c) for c in submit.context]
        return with_context(prompt, contexts)

    def stop(self, *, active: bool) -> str | None:
        """The message that sends the model back to work when a Stop hook blocks; None lets
        the run end. `active`: the run already went on once because of a Stop hook."""
        outcome = self._report(
            self.hooks.stop(self.session_id, stop_hook_active=active), may_stop=False
        )
        if outcome.decision != "block" or outcome.stop is not None:  # "continue": false wins
            return None
        return f"[Stop hook] You may not stop yet:\n{outcome.reason}"

    def subagent_stop(self, *, active: bool) -> str | None:
        """A child of this conversation answered: the message that sends it back to work when
        a SubagentStop hook blocks; None lets it end. `active` as for `stop`."""
        outcome = self._report(
            self.hooks.subagent_stop(self.session_id, stop_hook_active=active), may_stop=False
        )
        if outcome.decision != "block" or outcome.stop is not None:
            return None
        return f"[SubagentStop hook] You may not stop yet:\n{outcome.reason}"

    def pre_tool(self, tool: str, arguments: dict[str, Any], call_id: str) -> HookOutcome:
        return self._report(
            self.hooks.pre_tool_use(
                self.session_id, tool=tool, tool_input=arguments, call_id=call_id
            )
        )

    def post_tool(
        self, tool: str, arguments: dict[str, Any], output: str, call_id: str
    ) -> str | None:
        """What PostToolUse hooks say to the model about a call that ran, to follow its result
        (a block's reason, added context); None when they said nothing."""
        outcome = self._report(
            self.hooks.post_tool_use(
                self.session_id,
                tool=tool,
                tool_input=arguments,
                tool_response={"ok": True, "output": output},
                call_id=call_id,
            )
        )
        said = [("PostToolUse hook context", c) for c in outcome.context]
        if outcome.decision == "block":
            said.insert(0, ("PostToolUse hook feedback", outcome.reason or "blocked"))
        return with_context("", said) or None

    def pre_compact(self, trigger: str, focus: str | None) -> None:
        """Before older turns are summarised; hooks here observe, they cannot block."""
        self._report(
            self.hooks.pre_compact(self.session_id, trigger=trigger, focus=focus), may_stop=False
        )

    def end(self, reason: str) -> None:
        """SessionEnd, once per started conversation (the agent closes, the notebook starts
        a new conversation or unloads)."""
        if self.state != "started":
            return
        self.state = "ended"
        self._report(self.hooks.session_end(self.session_id, reason=reason), may_stop=False)


class ChildHooks:
    """A subagent's share of its parent's hooks: its tool calls and compactions fire them as
    the parent's do (a team's PreToolUse guard holds for children too); the session events
    belong to the parent's session, where the child's end fires SubagentStop instead."""

    def __init__(self, hooks: Hooks) -> None:
        self._hooks = hooks

    def pre_tool_use(self, session_id: str, **details: Any) -> HookOutcome:
        return self._hooks.pre_tool_use(session_id, **details)

    def post_tool_use(self, session_id: str, **details: Any) -> HookOutcome:
        return self._hooks.post_tool_use(session_id, **details)

    def pre_compact(self, session_id: str, **details: Any) -> HookOutcome:
        return self._hooks.pre_compact(session_id, **details)

    def _none(self, session_id: str, **details: Any) -> HookOutcome:
        return HookOutcome()

    session_start = user_prompt_submit = stop = subagent_stop = session_end = _none
