"""Starting a subagent: a child Agent with a fresh context, run to its answer inside a tool call.

`claw_nb.api` builds one `Subagents` per agent from the parts it wired for that agent (config,
model, command runner, tools) and attaches it once the agent exists. The `task` tool calls
`run`, which builds the child from those same parts: the same workspace and sandbox, the
authorizer the parent's call runs under (so never a wider mode), the parent's stop token as
its parent (Stop stops both), and the parent's listeners through `parent.emit`, so the log,
the printer and the notebook get the child's events under the child's own session id, its
`SessionStarted` naming the parent session and call. The loop itself knows nothing of this.

When a child ends, `run` calls every `on_end` callback with the `ChildRun` before the parent
reads the result: the one place to hook "a subagent stopped".
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import field
from typing import Any

from claw_nb import events as ev
from claw_nb.agent import Agent, RunResult
from claw_nb.config import ClawConfig
from claw_nb.errors import SubagentSettingsError
from claw_nb.hook_points import ChildHooks
from claw_nb.outcomes import StopReason
from claw_nb.protocols import CommandRunner, Model
from claw_nb.records import record
from claw_nb.subagents.definitions import (
    GENERAL_PURPOSE,
    AgentDefinition,
    load_definitions,
)
from claw_nb.tools import Tool, ToolContext, ToolError, ToolRegistry
from claw_nb.tools.task import make_task_tool

TASK_TOOL = "task"
# Tools bound to one conversation: the child gets its own when it needs them.
_PER_CONVERSATION = frozenset({TASK_TOOL, "read_output"})
_CHANGES = ("edit",)  # tool kinds whose `path` argument names a file they changed
_COMMANDS = ("command", "kernel")

MakeModel = Callable[[ClawConfig], tuple[ClawConfig, Model]]


@record(frozen=True)
class SubagentSettings:
    """`[subagents]` in `.claw/settings.toml`: how deep children may nest (0: no `task`
    tool), and the step limit of each child run."""

    max_depth: int = 1
    max_steps: int = 20

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SubagentSettings:
        section = (settings or {}).get("subagents") or {}
        if not isinstance(section, dict):
            raise SubagentSettingsError("[subagents] must be a table")
        unknown = sorted(set(section) - {"max_depth", "max_steps"})
        if unknown:
            raise SubagentSettingsError(f"unknown [subagents] setting(s) {', '.join(unknown)}")
        values = {}
        for key, least in (("max_depth", 0), ("max_steps", 1)):
            if key in section:
                value = section[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < least:
                    raise SubagentSettingsError(
                        f"[subagents] {key} must be an integer of at least {least}, got {value!r}"
                    )
                values[key] = value
        return cls(**values)


@record(frozen=True)
class ChildRun:
    """A finished subagent: the `task` tool's result is rendered from it, hooks receive it."""

    session_id: str
    parent_session_id: str
    parent_call_id: str | None
    agent_name: str | None
    description: str
    result: RunResult
    answer: str  # its final answer, else its last words
    changed: tuple[str, ...] = ()
    commands: int = 0  # commands it ran: what they changed is not in `changed`
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok

    def model_text(self) -> str:
        """The result as the parent model reads it."""
        who = self.agent_name or GENERAL_PURPOSE
        if self.ok:
            head = f"[subagent {who}, session {self.session_id}: done in {self.result.steps} steps]"
        else:
            why = self.result.error or self.result.stop_reason
            head = f"[subagent {who}, session {self.session_id}: stopped ({why})]"
        lines = [head, self.answer.strip() or "(no answer)", ""]
        lines.append("Files changed: " + (", ".join(self.changed) or "none"))
        if self.commands:
            lines.append(f"It ran {self.commands} command(s); files they changed are not listed.")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


class Subagents:
    """The children of one agent; `run` is the `task` tool's spawn."""

    def __init__(
        self,
        config: ClawConfig,
        *,
        model: Model,
        runner: CommandRunner,
        tools: ToolRegistry,
        make_model: MakeModel,
        settings: SubagentSettings | None = None,
        depth: int = 0,
    ) -> None:
        self.config = config
        self.model = model
        self.runner = runner
        self.tools = tools  # the parent's tools, without its own `task`
        self.make_model = make_model
        self.settings = settings or SubagentSettings.from_settings(config.settings)
        self.depth = depth  # 0: the top agent's children
        self.parent: Agent | None = None
        self.on_end: list[Callable[[ChildRun], None]] = []

    @property
    def enabled(self) -> bool:
        """Whether this agent may start children at all (`max_depth` deeper than it)."""
        return self.depth < self.settings.max_depth

    def task_tool(self) -> Tool:
        """The `task` tool over `run`, listing the workspace's agent definitions."""
        return make_task_tool(self.run, list(load_definitions(self.config.workspace).values()))

    def attach(self, parent: Agent) -> None:
        self.parent = parent

    def run(
        self, ctx: ToolContext, description: str, prompt: str, agent: str | None = None
    ) -> ChildRun:
        """Run a child on `prompt` until it answers or its step limit; its record."""
        parent = self.parent
        if parent is None:
            raise RuntimeError("Subagents.run before attach(): api.build_agent attaches it")
        if not self.enabled:
            raise ToolError("no subagents may start here ([subagents] max_depth)")
        definition = self._definition(agent)
        notes: list[str] = []
        tools, may_delegate = self._child_tools(definition, notes)
        config, model, owned = self._child_model(definition, notes)
        grandchildren = self._next_level(config, model, tools)
        if not (may_delegate and grandchildren.enabled):
            grandchildren = None
        else:
            tools.add(grandchildren.task_tool())
        child_id = os.urandom(8).hex()
        watch = _ChildWatch({tool.name: tool.kind for tool in tools})
        link = {
            "parent_session_id": parent.session_id,
            "parent_call_id": ctx.call_id,
            "agent_name": definition.name if definition else None,
        }

        def relay(event: ev.Event) -> None:
            if isinstance(event, ev.SessionStarted) and event.session_id == child_id:
                event = dataclasses.replace(event, **link)
            watch(event)
            parent.emit(event)

        child = Agent(
            config,
            model=model,
            runner=self.runner,
            # the call's authorizer (its run's mode); outside a run, the parent's own policy
            authorize=ctx.authorize if ctx.authorize is not None else parent.authorize,
            tools=tools,
            listeners=[relay],
            session_id=child_id,
            stop=parent.stop,
            system_prompt=definition.system_prompt(config.workspace) if definition else None,
            hooks=ChildHooks(parent.hook_points.hooks),
        )
        if grandchildren is not None:
            grandchildren.attach(child)
        try:
            result = child.run(prompt, max_steps=self.settings.max_steps)
            again = parent.hook_points.subagent_stop(active=False) if result.ok else None
            if again is not None:  # a SubagentStop hook sent it back to work, once
                result = child.run(again, max_steps=self.settings.max_steps)
                parent.hook_points.subagent_stop(active=True)
        finally:
            if owned:
                close = getattr(model, "close", None)
                if callable(close):
                    close()
        if result.stop_reason == StopReason.INTERRUPTED:
            # Ctrl-C reached the child's loop, which ended its run: the parent stops too
            parent.stop.stop("interrupted by the user")
        record = ChildRun(
            session_id=child_id,
            parent_session_id=parent.session_id,
            parent_call_id=ctx.call_id,
            agent_name=link["agent_name"],
            description=description,
            result=result,
            answer=result.final_answer or _last_words(child.messages),
            changed=tuple(watch.changed),
            commands=watch.commands,
            notes=tuple(notes),
        )
        for callback in list(self.on_end):  # the hook point: "a subagent stopped"
            callback(record)
        return record

    # -- the child's parts ----------------------------------------------------------------

    def _definition(self, name: str | None) -> AgentDefinition | None:
        if name is None or name.strip() in ("", GENERAL_PURPOSE):
            return None
        definitions = load_definitions(self.config.workspace)  # read again: it may be new
        found = definitions.get(name.strip())
        if found is None:
            known = ", ".join([GENERAL_PURPOSE, *definitions]) if definitions else GENERAL_PURPOSE
            raise ToolError(f"there is no agent named {name!r}; agents: {known}")
        return found

    def _child_tools(
        self, definition: AgentDefinition | None, notes: list[str]
    ) -> tuple[ToolRegistry, bool]:
        """(the child's tools, whether it may have a `task` tool of its own)."""
        base = [tool for tool in self.tools if tool.name not in _PER_CONVERSATION]
        if definition is None:
            return ToolRegistry(base), True
        allowed, missing = definition.allowed_tools([*(t.name for t in base), TASK_TOOL])
        if missing:
            notes.append(f"{definition.source} names tools not here: {', '.join(missing)}")
        return ToolRegistry(t for t in base if t.name in allowed), TASK_TOOL in allowed

    def _child_model(
        self, definition: AgentDefinition | None, notes: list[str]
    ) -> tuple[ClawConfig, Model, bool]:
        """(the child's config, its model, whether the child owns that model)."""
        config = self.config.with_options(max_steps=self.settings.max_steps)
        name, refused = definition.model_for(self.config) if definition else (None, None)
        if refused:
            notes.append(refused)
        if name is None:
            return config, self.model, False
        config, model = self.make_model(config.with_options(model=name))
        return config, model, True

    def _next_level(self, config: ClawConfig, model: Model, tools: ToolRegistry) -> Subagents:
        """The child's own `Subagents`, one level deeper, over the child's tools."""
        return Subagents(
            config,
            model=model,
            runner=self.runner,
            tools=ToolRegistry(list(tools)),
            make_model=self.make_model,
            settings=self.settings,
            depth=self.depth + 1,
        )


@record
class _ChildWatch:
    """What the child (and its own children) changed and ran, from their tool calls."""

    kinds: dict[str, str]
    changed: list[str] = field(default_factory=list)
    commands: int = 0

    def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, ev.ToolCallFinished) or not event.ok:
            return
        kind = self.kinds.get(event.tool)
        path = (event.arguments or {}).get("path")
        if kind in _CHANGES and isinstance(path, str) and path not in self.changed:
            self.changed.append(path)
        elif kind in _COMMANDS:
            self.commands += 1


def _last_words(messages: list[dict[str, Any]]) -> str:
    """The child's last assistant text: what it had when it was stopped."""
    for message in reversed(messages):
        if message.get("role") == "assistant" and message.get("content"):
            return str(message["content"])
    return ""
