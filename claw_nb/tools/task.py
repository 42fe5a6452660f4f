"""The `task` tool: hand a self-contained piece of work to a subagent and get its answer back.

The tool only describes itself and renders the result; starting the child is the `spawn`
callable it is built with (`claw_nb.subagents.Subagents.run`, wired by `claw_nb.api`). Its
description lists the agent definitions the model may name, so it is built per workspace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

from claw_nb.tools.base import Tool, ToolContext, ToolError, derive_tool

MAX_LISTED_DESCRIPTION = 200  # characters of each agent's description in the tool's own


class ChildOutcome(Protocol):
    """What `spawn` returns: whether the child finished, and its result as the model reads it."""

    @property
    def ok(self) -> bool: ...

    def model_text(self) -> str: ...


Spawn = Callable[[ToolContext, str, str, str | None], ChildOutcome]


class AgentInfo(Protocol):
    name: str
    description: str


def make_task_tool(spawn: Spawn, agents: Sequence[AgentInfo] = ()) -> Tool:
    """The `task` tool over `spawn`, its description listing `agents` by name."""

    def task(ctx: ToolContext, description: str, prompt: str, agent: str | None = None) -> str:
        """Hand a self-contained piece of work to a subagent: a fresh conversation that sees
        none of yours, works in this workspace with your permissions, and returns its final
        answer and the files it changed. Use it for a search or side task whose details you
        need not keep.

        Args:
            description: A few words saying what the subagent does (shown to the user).
            prompt: The whole task: the subagent knows nothing else, so say all it needs.
            agent: The name of an agent to run (listed in this tool's description); omit it
                for a general-purpose agent with your tools.
        """
        outcome = spawn(ctx, description, prompt, agent)
        if not outcome.ok:
            raise ToolError(outcome.model_text())
        return outcome.model_text()

    tool = derive_tool(task, "meta")
    if not agents:
        return tool
    listing = "\n".join(f"- {a.name}: {_clip(a.description)}" for a in agents)
    return dataclasses.replace(tool, description=f"{tool.description}\n\nAgents:\n{listing}")


def _clip(text: str) -> str:
    text = text or "(no description)"
    if len(text) <= MAX_LISTED_DESCRIPTION:
        return text
    return text[: MAX_LISTED_DESCRIPTION - 3].rstrip() + "..."
