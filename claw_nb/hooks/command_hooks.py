"""`CommandHooks`: the `Hooks` the agent is given when the workspace configures some.

Each event method picks the hooks whose matcher fits, runs them one after another (identical
commands once), each with its own JSON on stdin, and merges what they decided. The loop only
sees the typed `HookOutcome`; how a command was started, fed and killed stays here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from claw_nb.hooks.claude_names import (
    claude_tool_input,
    claude_tool_name,
    condition_holds,
    tool_names,
)
from claw_nb.hooks.decisions import Verdict, interpret, merge
from claw_nb.hooks.runner import run_command
from claw_nb.hooks.settings import EVENTS, MATCHED, HookSpec
from claw_nb.protocols import HookOutcome


class CommandHooks:
    """Runs the configured hook commands on the host, in `workspace`, with the user's
    environment plus `CLAUDE_PROJECT_DIR` and `CLAW_PROJECT_DIR` (the workspace)."""

    def __init__(
        self,
        specs: Iterable[HookSpec],
        workspace: Path | str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.specs = tuple(specs)
        self.workspace = Path(workspace)
        base = dict(os.environ if env is None else env)
        base.update(CLAUDE_PROJECT_DIR=str(self.workspace), CLAW_PROJECT_DIR=str(self.workspace))
        self.env = base

    def __repr__(self) -> str:
        counts = {e: sum(s.event == e for s in self.specs) for e in EVENTS}
        shown = ", ".join(f"{e}: {n}" for e, n in counts.items() if n)
        return f"CommandHooks({shown or 'none'})"

    def for_event(self, event: str) -> list[HookSpec]:
        return [s for s in self.specs if s.event == event]

    # -- the events -----------------------------------------------------------------------

    def session_start(self, session_id: str, *, source: str) -> HookOutcome:
        return self._fire("SessionStart", session_id, {"source": source}, match=(source,))

    def user_prompt_submit(self, session_id: str, *, prompt: str) -> HookOutcome:
        return self._fire("UserPromptSubmit", session_id, {"prompt": prompt})

    def pre_tool_use(
        self, session_id: str, *, tool: str, tool_input: dict[str, Any], call_id: str
    ) -> HookOutcome:
        return self._tool_event("PreToolUse", session_id, tool, tool_input, call_id, None)

    def post_tool_use(
        self,
        session_id: str,
        *,
        tool: str,
        tool_input: dict[str, Any],
        tool_response: dict[str, Any],
        call_id: str,
    ) -> HookOutcome:
        return self._tool_event("PostToolUse", session_id, tool, tool_input, call_id, tool_response)

    def stop(self, session_id: str, *, stop_hook_active: bool) -> HookOutcome:
        return self._fire("Stop", session_id, {"stop_hook_active": stop_hook_active})

    def subagent_stop(self, session_id: str, *, stop_hook_active: bool) -> HookOutcome:
        """A child agent is about to end (called by whoever runs child agents, with the
        child's session id): `block` sends it back to work with the reason."""
        return self._fire("SubagentStop", session_id, {"stop_hook_active": stop_hook_active})

    def pre_compact(self, session_id: str, *, trigger: str, focus: str | None) -> HookOutcome:
        details = {"trigger": trigger, "custom_instructions": focus or ""}
        return self._fire("PreCompact", session_id, details, match=(trigger,))

    def session_end(self, session_id: str, *, reason: str) -> HookOutcome:
        return self._fire("SessionEnd", session_id, {"reason": reason})

    # -- running ------------------------------------------------------------------------------

    def _tool_event(
        self,
        event: str,
        session_id: str,
        tool: str,
        tool_input: dict[str, Any],
        call_id: str,
        response: dict[str, Any] | None,
    ) -> HookOutcome:
        def details(spec: HookSpec) -> dict[str, Any]:
            shaped = {
                "tool_name": claude_tool_name(tool) if spec.claude else tool,
                "tool_input": (
                    claude_tool_input(tool, tool_input, self.workspace)
                    if spec.claude
                    else tool_input
                ),
                "tool_use_id": call_id,
                "claw_tool_name": tool,
            }
            if response is not None:
                shaped["tool_response"] = response
            return shaped

        return self._fire(
            event,
            session_id,
            details,
            match=tool_names(tool),
            tool=tool,
            call_id=call_id,
            condition=lambda spec: (
                spec.condition is None or condition_holds(spec.condition, tool, tool_input)
            ),
        )

    def _fire(
        self,
        event: str,
        session_id: str,
        details: Any,
        *,
        match: tuple[str, ...] = (),
        tool: str | None = None,
        call_id: str | None = None,
        condition: Any = None,
    ) -> HookOutcome:
        verdicts: list[Verdict] = []
        seen: set[str] = set()
        for spec in self.for_event(event):
            if event in MATCHED and not spec.matches(match):
                continue
            if condition is not None and not condition(spec):
                continue
            if spec.command in seen:  # the same command twice (both files): once
                continue
            seen.add(spec.command)
            extra = details(spec) if callable(details) else details
            payload = {
                "session_id": session_id,
                "cwd": str(self.workspace),
                "hook_event_name": event,
                **extra,
            }
            stdin = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
            result = run_command(
                spec.command, stdin, cwd=self.workspace, env=self.env, timeout=spec.timeout
            )
            verdicts.append(interpret(spec, result, tool=tool, call_id=call_id))
        return merge(verdicts)
