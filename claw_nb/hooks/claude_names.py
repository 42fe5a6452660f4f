"""Claude Code's tool names and argument shapes, so hooks written for Claude Code work here.

A matcher is tested against a tool's own name and its Claude Code names: `Bash` matches
`run_command`, `Edit|Write` matches `edit_file` and `write_file`, `run_command` still matches
`run_command`. A hook from `.claude/settings*.json` also gets the call the way Claude Code
would send it: `tool_name` is the Claude Code name and `tool_input` has `file_path` (absolute)
next to our `path`, so a script that reads `.tool_input.file_path` or compares `.tool_name`
with "Bash" keeps working. Our own name is in `claw_tool_name`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from claw_nb.command_line import Unparsable, command_text, split_commands
from claw_nb.errors import PermissionSettingsError
from claw_nb.permission_rules import Rule, glob_match, primary_value

# our tool -> its Claude Code names, the first one being what a Claude Code hook is sent
CLAUDE_NAMES: dict[str, tuple[str, ...]] = {
    "run_command": ("Bash",),
    "read_file": ("Read",),
    "write_file": ("Write",),
    "edit_file": ("Edit", "MultiEdit"),
    "list_files": ("Glob", "LS"),
    "grep": ("Grep",),
    "todo_write": ("TodoWrite",),
    "notebook_read": ("NotebookRead", "Read"),
    "notebook_edit": ("NotebookEdit",),
    "read_output": ("BashOutput",),
}
_NOTEBOOK_TOOLS = ("notebook_read", "notebook_edit")


def tool_names(tool: str) -> tuple[str, ...]:
    """The names a matcher is tested against: ours, then Claude Code's."""
    return (tool, *CLAUDE_NAMES.get(tool, ()))


def claude_tool_name(tool: str) -> str:
    """The name a Claude Code hook is given (our own for tools Claude Code has not got)."""
    names = CLAUDE_NAMES.get(tool)
    return names[0] if names else tool


def claude_tool_input(tool: str, arguments: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """Our arguments plus the keys Claude Code hooks read: `file_path` (absolute, as Claude
    Code sends it) for file tools, `notebook_path` for notebook tools."""
    shaped = dict(arguments)
    path = arguments.get("path")
    if isinstance(path, str) and tool != "run_command":
        absolute = os.path.normpath(os.path.join(workspace, path))
        shaped.setdefault("notebook_path" if tool in _NOTEBOOK_TOOLS else "file_path", absolute)
    return shaped


def check_condition(text: str) -> Rule:
    """Claude Code's `if` (a permission rule such as `Bash(git *)` or `Edit(src/**)`) as a
    rule; Claude Code's `prefix:*` is read as `prefix*`. Raises PermissionSettingsError."""
    rule = Rule.parse("allow", text)
    if rule.pattern is not None and rule.pattern.endswith(":*"):
        rule = Rule(rule.action, rule.tool, rule.pattern[:-2] + "*")
    return rule


def condition_holds(text: str, tool: str, arguments: dict[str, Any]) -> bool:
    """Whether a call of `tool` with `arguments` is what the `if` rule names. For a command,
    the rule matches the whole line or any of its simple commands."""
    try:
        rule = check_condition(text)
    except PermissionSettingsError:
        return False
    if rule.tool != "*" and rule.tool not in tool_names(tool):
        return False
    if rule.pattern is None:
        return True
    value = primary_value(arguments)
    if value is None:
        return False
    if tool != "run_command":
        return glob_match(rule.pattern, value)
    try:
        parts = [command_text(words) for words in split_commands(value)]
    except Unparsable:
        parts = []
    return any(rule.matches_text(part) for part in [value, *parts])
