"""Plan mode's one tool: the model hands its plan to the user, who approves it or says why not.

In plan mode (`--mode plan`) the permission policy lets reads and searches run and refuses
edits, commands and kernel code. The model ends planning by calling `exit_plan_mode(plan)`;
the policy asks the user (the plan is what they are shown). Approved, the same run goes on in
the mode the user picked (default `accept-edits`); refused, the model gets the user's feedback
as the result and stays in plan mode.
"""

from __future__ import annotations

from claw_nb.tools.base import ToolContext, tool

PLAN_MODE_NOTE = (
    "[claw: plan mode. Investigate first: read files and search, but change nothing (edits, "
    "commands and kernel code are refused). When you know what to do, call exit_plan_mode with "
    "your plan: numbered steps naming the files you would change. The user approves it or tells "
    "you what to change.]"
)


@tool("plan")
def exit_plan_mode(ctx: ToolContext, plan: str) -> str:
    """Present your plan to the user and leave plan mode once they approve it.

    Args:
        plan: The plan, as numbered steps that name the files you will change.
    """
    return (
        "The user approved your plan. Planning is over: carry the plan out now, step by step, "
        "then say what you did."
    )
