"""What an edit changed: file-change tracking, unified diffs, previews of an edit, argument text.

`ChangeTracker` watches tool calls that edit files and records what each one changed (a unified
diff, lines added and removed); the widget transcript, its static copy and the text transcript
all show it. Nothing here imports ipywidgets.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb import events as ev
from claw_nb.records import record
from claw_nb.untrusted import read_untrusted

MAX_DIFF_LINES = 120
MAX_SNAPSHOT_BYTES = 2_000_000
FILE_TOOLS = ("write_file", "edit_file")
NOTEBOOK_TOOLS = ("notebook_edit",)


@record
class FileChange:
    path: str
    created: bool = False
    added: int = 0
    removed: int = 0
    diff: str = ""

    def label(self) -> str:
        what = "new" if self.created else "edited"
        return f"{self.path} ({what}, +{self.added} -{self.removed})"


@record
class NotebookChange:
    path: str
    cells: list[str] = field(default_factory=list)

    def label(self) -> str:
        cells = ", ".join(self.cells)
        return f"{self.path} (notebook: {cells})" if cells else f"{self.path} (notebook)"


def _read_text(workspace: str | Path | None, path: Path) -> str | None:
    """The file's text for a diff, read confined to the workspace without following links
    (a command may have swapped it for a link or a FIFO since the call resolved it)."""
    if workspace is None:
        return None
    root = Path(os.path.realpath(workspace))
    try:
        data = read_untrusted(root, path.relative_to(root), max_bytes=MAX_SNAPSHOT_BYTES + 1)
        if data is None or len(data) > MAX_SNAPSHOT_BYTES:
            return None
        return data.decode("utf-8")
    except (OSError, ValueError):
        return None


def _resolve(workspace: str | Path | None, path: Any) -> Path | None:
    if workspace is None or not isinstance(path, str) or not path.strip():
        return None
    try:
        from claw_nb.tools.workspace import resolve_in_workspace

        return resolve_in_workspace(Path(workspace), path)
    except Exception:  # noqa: BLE001 - outside the workspace or unreadable: nothing to show
        return None


def unified_diff(before: str, after: str, name: str, limit: int = MAX_DIFF_LINES) -> str:
    return _diff(before, after, name, limit)[0]


def _diff(before: str, after: str, name: str, limit: int = MAX_DIFF_LINES) -> tuple[str, list[str]]:
    """The diff clipped to `limit` lines, and all its lines (for counting before the clip)."""
    lines = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"a/{name}", f"b/{name}", n=2, lineterm=""
        )
    )
    shown = (
        lines[:limit] + [f"... {len(lines) - limit} more diff lines"]
        if len(lines) > limit
        else lines
    )
    return "\n".join(shown), lines


def count_changes(diff: str) -> tuple[int, int]:
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def preview_change(
    workspace: str | Path | None, tool: str, arguments: dict[str, Any]
) -> str | None:
    """The diff an edit would make, for an approval prompt; None when it cannot be told."""
    if tool in NOTEBOOK_TOOLS:
        return _preview_cell(workspace, arguments)
    if tool not in FILE_TOOLS:
        return None
    path = arguments.get("path")
    resolved = _resolve(workspace, path)
    if resolved is None:
        return None
    before = _read_text(workspace, resolved) or ""
    if tool == "write_file":
        after = arguments.get("content")
        if not isinstance(after, str):
            return None
    else:
        old, new = arguments.get("old_string"), arguments.get("new_string")
        if not isinstance(old, str) or not isinstance(new, str):
            return None
        if old == "":
            after = new
        elif old in before:
            after = (
                before.replace(old, new)
                if arguments.get("replace_all")
                else before.replace(old, new, 1)
            )
        else:
            return None
    return unified_diff(before, after, str(path))


def _preview_cell(workspace: str | Path | None, arguments: dict[str, Any]) -> str | None:
    """Before/after of the notebook cell an edit would change (as the file on disk has it)."""
    path = arguments.get("path")
    resolved = _resolve(workspace, path)
    mode = arguments.get("mode") or "replace"
    new = arguments.get("source") if isinstance(arguments.get("source"), str) else ""
    cells: list[dict] = []
    if resolved is not None:
        text = _read_text(workspace, resolved)
        try:
            cells = json.loads(text).get("cells", []) if text else []
        except (ValueError, AttributeError):
            cells = []
    if mode == "insert":
        return unified_diff("", new, f"{path} (new cell)")
    cell = None
    cell_id, index = arguments.get("cell_id"), arguments.get("index")
    if isinstance(cell_id, str):
        cell = next((c for c in cells if c.get("id") == cell_id.strip()), None)
        if cell is None and cell_id.startswith("cell-") and cell_id[5:].isdigit():
            index = int(cell_id[5:])
    if cell is None and isinstance(index, int) and 0 <= index < len(cells):
        cell = cells[index]
    if cell is None:
        return None
    source = cell.get("source", "")
    before = "".join(source) if isinstance(source, list) else str(source)
    label = f"{path} cell {cell_id if cell_id is not None else index}"
    return unified_diff(before, "" if mode == "delete" else new, label)


def describe_arguments(arguments: dict[str, Any] | None, raw: str = "") -> str:
    """Arguments as readable text: each key on its own line, long strings as blocks."""
    if arguments is None:
        return raw
    parts = []
    for key, value in arguments.items():
        if isinstance(value, str) and ("\n" in value or len(value) > 80):
            parts.append(f"{key}:\n" + "\n".join("    " + line for line in value.splitlines()))
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{key}: {text}")
    return "\n".join(parts)


class ChangeTracker:
    """Records the files and notebooks the agent changed, from the events of its tool calls."""

    def __init__(self) -> None:
        self.workspace: str | None = None
        self.files: dict[str, FileChange] = {}
        self.notebooks: dict[str, NotebookChange] = {}
        self._before: dict[str, tuple[str, Path, str | None]] = {}

    def started(self, e: ev.ToolCallStarted) -> None:
        if e.tool in FILE_TOOLS and e.arguments:
            resolved = _resolve(self.workspace, e.arguments.get("path"))
            if resolved is not None:
                self._before[e.call_id] = (
                    str(e.arguments["path"]),
                    resolved,
                    _read_text(self.workspace, resolved),
                )

    def finished(self, e: ev.ToolCallFinished) -> FileChange | None:
        """The change this call made (None if it changed no file)."""
        snapshot = self._before.pop(e.call_id, None)
        if e.ok and e.tool in NOTEBOOK_TOOLS and e.arguments:
            self._note_notebook(e.arguments)
        if not e.ok or snapshot is None:
            return None
        name, resolved, before = snapshot
        after = _read_text(self.workspace, resolved)
        if after is None or after == before:
            return None
        diff, lines = _diff(before or "", after, name)
        added, removed = count_changes("\n".join(lines))
        change = FileChange(name, created=before is None, added=added, removed=removed, diff=diff)
        previous = self.files.get(name)
        if previous is not None:
            change.created = previous.created
            change.added += previous.added
            change.removed += previous.removed
        self.files[name] = change
        return change

    def _note_notebook(self, arguments: dict[str, Any]) -> None:
        path = str(arguments.get("path") or "(this notebook)")
        entry = self.notebooks.setdefault(path, NotebookChange(path))
        cell = next(
            (
                arguments[k]
                for k in ("cell_id", "index", "cell", "cell_index")
                if arguments.get(k) is not None
            ),
            None,
        )
        action = arguments.get("mode") or "replace"
        if cell is not None or action:
            label = " ".join(
                str(x) for x in (action, f"cell {cell}" if cell is not None else "") if x
            )
            if label not in entry.cells:
                entry.cells.append(label)

    def summary_lines(self) -> list[str]:
        return [c.label() for c in self.files.values()] + [
            n.label() for n in self.notebooks.values()
        ]
