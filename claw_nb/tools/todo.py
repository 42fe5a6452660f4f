"""The todo_write tool: the agent's visible plan."""

from __future__ import annotations

from typing import Literal, TypedDict

from claw_nb.tools.base import ToolContext, ToolError, tool

STATUSES = ("pending", "in_progress", "completed")
_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


class _TodoRequired(TypedDict):
    content: str
    status: Literal["pending", "in_progress", "completed"]


class TodoItem(_TodoRequired, total=False):
    id: str


def render_todos(todos: list[dict]) -> str:
    """A plain-text checklist of ``todos``."""
    if not todos:
        return "Todo list is empty."
    done = sum(1 for t in todos if t["status"] == "completed")
    lines = [f"Todos ({done}/{len(todos)} completed):"]
    for t in todos:
        suffix = "  (in progress)" if t["status"] == "in_progress" else ""
        lines.append(f"{_MARKS[t['status']]} {t['content']}{suffix}")
    return "\n".join(lines)


def _validate(todos: object) -> list[dict]:
    if not isinstance(todos, list):
        raise ToolError("todos must be a list of {content, status, id?} objects")
    clean: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(todos, 1):
        if not isinstance(item, dict):
            raise ToolError(f"todo #{i} must be an object with content and status")
        unknown = sorted(set(item) - {"content", "status", "id"})
        if unknown:
            raise ToolError(
                f"todo #{i} has unknown field(s) {', '.join(unknown)}; allowed: content, status, id"
            )
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ToolError(f"todo #{i} needs a non-empty 'content' string")
        status = item.get("status")
        if status not in STATUSES:
            raise ToolError(f"todo #{i} has status {status!r}; use one of: {', '.join(STATUSES)}")
        raw_id = item.get("id")
        todo_id = str(raw_id) if raw_id not in (None, "") else str(i)
        if todo_id in seen:
            raise ToolError(f"todo #{i} repeats id {todo_id!r}; ids must be unique")
        seen.add(todo_id)
        clean.append({"id": todo_id, "content": content.strip(), "status": status})
    return clean


@tool("meta")
def todo_write(ctx: ToolContext, todos: list[TodoItem]) -> str:
    """Replace your todo list (send the whole list). Plan multi-step work with it: mark an
    item in_progress when you start it, completed when it is done.

    Args:
        todos: The complete list.
    """
    clean = _validate(todos)
    ctx.todos[:] = clean
    return render_todos(clean)
