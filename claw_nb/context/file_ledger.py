"""Which files a conversation read, wrote or edited: carried into summaries so the model keeps
knowing what it changed after the turns that did it are folded away."""

from __future__ import annotations

from typing import Any

from claw_nb.context.prune import norm_path
from claw_nb.outcomes import Outcomes, succeeded

_FILE_WRITERS = ("write_file", "edit_file")  # a history with no recorded outcomes

_RANK = {"read": 0, "written": 1, "edited": 1}  # a file once changed stays changed
RECENT_CHANGED = 20  # changed files listed one per line with their state
OLDER_CHARS = 1500  # older changed files, and files only read, share a line each up to this


class FileLedger:
    """Path (workspace-relative) -> "read", "written" or "edited", in order of last use."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.states: dict[str, str] = {}

    def note(
        self,
        folded: list[dict[str, Any]],
        calls: dict[str, tuple[str, Any]],
        outcomes: Outcomes | None = None,
    ) -> None:
        """Record the paths of the successful file tool calls among `folded` messages: a tool
        of kind "edit" wrote (`write_file`: the whole file) or edited its path."""
        outcomes = outcomes or {}
        for message in folded:
            if message.get("role") != "tool" or not succeeded(message, outcomes):
                continue
            name, args = calls.get(message.get("tool_call_id"), ("", None))
            path = args.get("path") if args else None
            if not isinstance(path, str):
                continue
            outcome = outcomes.get(str(message.get("tool_call_id")))
            changes = outcome.kind == "edit" if outcome is not None else name in _FILE_WRITERS
            state = ("written" if name == "write_file" else "edited") if changes else "read"
            key = norm_path(path, self.workspace)
            old = self.states.pop(key, None)
            if old is not None and _RANK.get(old, 0) > _RANK[state]:
                state = old
            self.states[key] = state

    def text(self) -> str:
        """The ledger as summary lines: every changed file (the latest with their state, older
        ones grouped by state), then the ones only read (capped: reading is cheap to redo)."""
        changed = [(path, state) for path, state in self.states.items() if state != "read"]
        recent, older = changed[-RECENT_CHANGED:], changed[:-RECENT_CHANGED]
        lines = []
        for state in ("edited", "written"):
            paths = [path for path, was in older if was == state]
            if paths:
                lines.append(f"- {state} earlier: {clip_list(paths, OLDER_CHARS)}")
        lines += [f"- {path}: {state}" for path, state in recent]
        read = [path for path, state in self.states.items() if state == "read"]
        if read:
            lines.append(f"- only read: {clip_list(read[::-1], OLDER_CHARS)}")
        return "\n".join(lines)


def clip_list(paths: list[str], chars: int) -> str:
    """`paths` joined with commas, the first ones kept, within about `chars` characters."""
    shown: list[str] = []
    used = 0
    for path in paths:
        if shown and used + len(path) + 2 > chars:
            return ", ".join(shown) + f", ... {len(paths) - len(shown)} more"
        shown.append(path)
        used += len(path) + 2
    return ", ".join(shown)
