"""How a claw tool call looks to an ACP client: a title, a kind, the paths it touches, a diff.

Editors show tool calls by these: a kind picks the icon (read, edit, search, execute...), the
locations let the user follow the agent through files, and an edit's diff is what the user
approves or refuses. Paths go out as the client knows them: absolute, under the directory it
gave as the session's `cwd` (claw resolves symlinks in its workspace; the editor may not).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from acp.helpers import text_block, tool_content, tool_diff_content
from acp.schema import ToolCallLocation

from claw_nb.records import record
from claw_nb.tools.base import ToolError
from claw_nb.tools.workspace import resolve_in_workspace

MAX_DIFF_BYTES = 1_000_000  # a bigger file gets no diff preview (the tool still reports one)
MAX_TITLE_CHARS = 80

# claw's tool kinds (`claw_nb.tools.base.KINDS`) as ACP tool kinds; a few tools by name.
_KIND_BY_CLAW_KIND = {
    "read": "read",
    "edit": "edit",
    "command": "execute",
    "kernel": "execute",
    "plan": "switch_mode",
    "meta": "think",
}
_KIND_BY_TOOL = {"grep": "search", "list_files": "search"}


@record(frozen=True)
class ClientPaths:
    """The workspace as claw resolved it, and as the client named it (its session `cwd`)."""

    workspace: Path
    client_root: Path

    def for_client(self, path: str) -> str:
        """`path` (relative to the workspace, or absolute) as an absolute path the client knows."""
        given = Path(os.path.normpath(self.workspace / path))  # an absolute `path` stays itself
        for root in (self.workspace, self.client_root):
            if given == root or root in given.parents:
                return str(self.client_root / given.relative_to(root))
        return str(given)

    def resolve(self, path: str) -> Path | None:
        """The file `path` names inside the workspace, or None when it is outside or invalid."""
        for root in (self.client_root, self.workspace):
            candidate = Path(path)
            if candidate.is_absolute() and (candidate == root or root in candidate.parents):
                path = str(candidate.relative_to(root)) or "."
                break
        try:
            return resolve_in_workspace(self.workspace, path)
        except ToolError:
            return None


def acp_kind(tool: str, claw_kind: str | None) -> str:
    """The ACP tool kind for a claw tool."""
    return _KIND_BY_TOOL.get(tool) or _KIND_BY_CLAW_KIND.get(claw_kind or "", "other")


def title(tool: str, arguments: dict[str, Any] | None) -> str:
    """One line that says what the call does: `Edit src/app.py`, `Run pytest -q`."""
    args = arguments or {}
    path = _text(args.get("path")) or "."
    words = {
        "read_file": f"Read {path}",
        "write_file": f"Write {path}",
        "edit_file": f"Edit {path}",
        "list_files": f"List {path}",
        "grep": f"Search {_text(args.get('pattern'))!r} in {path}",
        "run_command": f"Run {_text(args.get('command'))}",
        "todo_write": "Update the todo list",
        "exit_plan_mode": "Plan ready: leave plan mode?",
    }
    line = words.get(tool) or f"{tool} {_text(args.get('path') or args.get('command'))}".strip()
    line = " ".join(line.split())
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 3] + "..."


def locations(paths: ClientPaths, tool: str, arguments: dict[str, Any] | None) -> list[Any]:
    """The file (and line) a call reads or writes, for the client to follow."""
    args = arguments or {}
    path = args.get("path")
    if not isinstance(path, str) or not path.strip():
        if tool not in ("grep", "list_files"):
            return []
        path = "."
    line = args.get("offset") if tool == "read_file" else None
    line = line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None
    return [ToolCallLocation(path=paths.for_client(path), line=line)]


def call_content(paths: ClientPaths, tool: str, arguments: dict[str, Any] | None) -> list[Any]:
    """What the client shows with the call: an edit's diff, a command line, a plan."""
    args = arguments or {}
    if tool in ("write_file", "edit_file"):
        diff = edit_diff(paths, tool, args)
        return [diff] if diff is not None else []
    if tool == "run_command" and isinstance(args.get("command"), str):
        return [tool_content(text_block(_fenced(args["command"], "sh")))]
    if tool == "exit_plan_mode" and isinstance(args.get("plan"), str):
        return [tool_content(text_block(args["plan"]))]
    return []


def result_content(kind: str, text: str) -> Any:
    """A finished call's result (or error) as tool call content; command output fenced."""
    return tool_content(text_block(_fenced(text) if kind == "execute" else text))


def edit_diff(paths: ClientPaths, tool: str, args: dict[str, Any]) -> Any | None:
    """The change `write_file` / `edit_file` would make, as the client's diff (old and new text),
    computed the way the tool will apply it; None when the tool will refuse or the file is big."""
    path = args.get("path")
    resolved = paths.resolve(path) if isinstance(path, str) else None
    if resolved is None:
        return None
    old = workspace_text(paths.workspace, resolved, MAX_DIFF_BYTES)
    if old is False:
        return None
    if tool == "write_file":
        new = args.get("content")
    else:
        new = _edited(old, args.get("old_string"), args.get("new_string"), args.get("replace_all"))
    if not isinstance(new, str):
        return None
    return tool_diff_content(paths.for_client(path), new, old)


def _edited(old: str | None, old_string: Any, new_string: Any, replace_all: Any) -> str | None:
    if not isinstance(old_string, str) or not isinstance(new_string, str):
        return None
    if old is None or old == "":
        return new_string if old_string == "" else None
    if not old_string or old_string not in old:
        return None
    return old.replace(old_string, new_string, -1 if replace_all is True else 1)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fenced(text: str, language: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def workspace_text(workspace: Path, resolved: Path, max_bytes: int) -> str | None | bool:
    """The text of a workspace file the agent may have shaped, read confined (no link out, no
    FIFO, no hidden path): None when there is no file, False when it cannot be shown (too big,
    not UTF-8, refused)."""
    from claw_nb.untrusted import UntrustedPathRefused, read_untrusted

    try:
        data = read_untrusted(workspace, resolved.relative_to(workspace), max_bytes=max_bytes + 1)
    except (UntrustedPathRefused, OSError, ValueError):
        return False
    if data is None:
        return None
    if len(data) > max_bytes:
        return False
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return False
