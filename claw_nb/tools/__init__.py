"""The agent's tools. Importing this package only needs the standard library."""

from __future__ import annotations

from claw_nb.tools.base import Tool, ToolContext, ToolError, ToolRegistry, tool
from claw_nb.tools.command import run_command
from claw_nb.tools.files import edit_file, read_file, write_file
from claw_nb.tools.search import grep, list_files
from claw_nb.tools.todo import todo_write

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "default_tools",
    "tool",
]


def default_tools() -> ToolRegistry:
    """A registry with the standard tools: files, shell and todos."""
    return ToolRegistry(
        [read_file, write_file, edit_file, list_files, grep, run_command, todo_write]
    )
