"""A tool call in one line for a card's header: what it acts on and a short gist, e.g.
`cli.py (-3 +5 lines)` for an edit, `python -m pytest -q` for a command. The full arguments
go behind a disclosure (`claw_nb.jupyter.widget_html.Card`). Escaped for a person
(`claw_nb.textsafe.show`), one line, cut at a word boundary."""

from __future__ import annotations

import difflib
import json
from typing import Any

from claw_nb.textsafe import show

LIMIT = 100
# Arguments that say what a call acts on, in the order a header names them.
_SUBJECTS = ("path", "command", "code", "pattern", "query", "url", "description", "plan")


def call_gist(
    tool: str, arguments: dict[str, Any] | None, raw: str = "", limit: int = LIMIT
) -> str:
    """The header line for a call of `tool` (the tool's name is not repeated)."""
    if arguments is None:
        return one_line(raw, limit)
    gist = _gist(tool, arguments)
    return one_line(gist, limit)


def _gist(tool: str, arguments: dict[str, Any]) -> str:
    path = arguments.get("path")
    if tool == "edit_file" and isinstance(path, str):
        old, new = str(arguments.get("old_string") or ""), str(arguments.get("new_string") or "")
        added, removed = _changed_lines(old, new)
        every = ", every match" if arguments.get("replace_all") else ""
        return f"{path} (-{removed} +{added} line{'s' if max(added, removed) != 1 else ''}{every})"
    if tool == "write_file" and isinstance(path, str):
        content = str(arguments.get("content") or "")
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        return f"{path} ({lines} line{'s' if lines != 1 else ''})"
    if tool == "notebook_edit":
        where = arguments.get("cell_id", arguments.get("index"))
        parts = [str(path or "this notebook"), str(arguments.get("mode") or "replace")]
        return " ".join(parts + ([f"cell {where}"] if where is not None else []))
    if tool == "grep" and arguments.get("pattern") is not None:
        within = f" in {path}" if path else ""
        return f"{arguments['pattern']}{within}"
    if tool == "read_file" and isinstance(path, str):
        offset = arguments.get("offset")
        return f"{path} from line {offset}" if isinstance(offset, int) and offset > 1 else path
    if tool == "todo_write" and isinstance(arguments.get("todos"), list):
        count = len(arguments["todos"])
        return f"[{count} item{'s' if count != 1 else ''}]"
    for key in _SUBJECTS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ", ".join(f"{k}={_short(v)}" for k, v in arguments.items())


def _changed_lines(old: str, new: str) -> tuple[int, int]:
    """(added, removed) lines between two texts, as a diff counts them."""
    added = removed = 0
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def _short(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    return json.dumps(value, ensure_ascii=False)


def one_line(text: str, limit: int = LIMIT) -> str:
    """`text` as one escaped line of at most `limit` characters, cut at a word boundary."""
    flat = " ".join(show(str(text)).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "\u2026"
