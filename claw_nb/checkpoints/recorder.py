"""Recording what each tool call changes in the workspace, as an event listener.

The agent emits `ToolCallStarted` before a tool runs and `ToolCallFinished` after it, to its
listeners, synchronously. On the first, the recorder keeps what the call may change: the
file an edit tool names (write_file, edit_file, notebook_edit: tools of kind "edit"), or a
scan of the whole workspace before a command or kernel code (kinds "command", "kernel"). On
the second it looks again and records, per path, the content hash before and after, with the
step and the tool. A notebook edited live in JupyterLab's shared document is recorded as its
cells (see `claw_nb.checkpoints.live_cells`), since its file is saved by the server later.

Recording never stops the agent: a failure here is a listener failure, which the agent
reports as a warning and goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from claw_nb import events as ev
from claw_nb.checkpoints.scan import ReadBudget, StatKey, TooManyFiles, capture, scan_workspace
from claw_nb.checkpoints.store import NOT_KEPT, UNREADABLE, CheckpointStore, is_known
from claw_nb.events import handles
from claw_nb.outcomes import ErrorKind
from claw_nb.tools.base import ToolError
from claw_nb.tools.workspace import resolve_in_workspace

# Error kinds of a call whose tool never ran.
NEVER_RAN = frozenset(
    {ErrorKind.DENIED, ErrorKind.SCHEMA, ErrorKind.UNKNOWN_TOOL, ErrorKind.MALFORMED_JSON}
)
FILE_KINDS = ("edit",)
SCAN_KINDS = ("command", "kernel")


class CheckpointRecorder(ev.EventDispatch):
    """Records the changes of one agent's tool calls into a `CheckpointStore`."""

    def __init__(self, store: CheckpointStore, workspace: str | Path, live: Any = None) -> None:
        self.store = store
        self.workspace = Path(os.path.realpath(workspace))
        self.live = live  # LiveCells, in a kernel whose notebooks may be edited live
        self._pending: dict[str, tuple[str, Any]] = {}  # call id -> (what, snapshot)
        self._index: dict[str, tuple[StatKey, str | None]] | None = None
        self._index_changed = False  # saved at the session's end, not after every command

    def __call__(self, event: ev.Event) -> None:
        handler = self.handler_for(event)
        if handler is not None:
            handler(event)

    # -- before the call --------------------------------------------------------------------

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        if not e.kind or e.arguments is None:
            return
        if e.kind in FILE_KINDS:
            rel = self._relative(e.arguments.get(e.primary_argument or "path"))
            if rel is None:
                return  # not a path in the workspace: the tool refuses it as well
            room = self.live.room_for(self.workspace / rel) if self.live is not None else None
            if room is None and rel == self._open_notebook():
                return  # only a cell proposed: the open notebook's file is left to JupyterLab
            if room is not None:
                try:
                    self._pending[e.call_id] = ("cells", (rel, room, self._cells(room)))
                except ToolError as exc:
                    self._pending[e.call_id] = ("unrecorded", f"{rel} (live) not read: {exc}")
            else:
                self._pending[e.call_id] = ("file", (rel, capture(self.store, self.workspace, rel)))
        elif e.kind in SCAN_KINDS:
            try:
                self._pending[e.call_id] = ("scan", self._rescan())
            except TooManyFiles as exc:
                self._pending[e.call_id] = ("unrecorded", str(exc))

    def _open_notebook(self) -> str | None:
        """The notebook the kernel runs in, relative to the workspace: JupyterLab holds it,
        so neither its file nor a command's change to it is recorded (a rewind must not
        write it behind JupyterLab's back)."""
        path = self.live.open_notebook() if self.live is not None else None
        if path is None:
            return None
        try:
            return Path(os.path.realpath(path)).relative_to(self.workspace).as_posix()
        except ValueError:
            return None

    def _cells(self, room: str) -> str:
        from claw_nb.checkpoints.live_cells import cells_blob  # live notebooks only

        return self.store.put(cells_blob(self.live.cells(room)))

    def _relative(self, path: Any) -> str | None:
        if not isinstance(path, str):
            return None
        try:
            resolved = resolve_in_workspace(self.workspace, path)
        except ToolError:
            return None
        rel = resolved.relative_to(self.workspace).as_posix()
        return None if rel == "." else rel

    def _rescan(self) -> dict[str, tuple[StatKey, str | None]]:
        """Path -> (stat key, content hash) of every scanned file now; only files whose stat
        changed since the last scan (of this process, or saved by an earlier one) are read."""
        previous = self._index
        if previous is None:
            previous = self.store.load_index(self.workspace)
        current: dict[str, tuple[StatKey, str | None]] = {}
        budget = ReadBudget()
        for rel, key in scan_workspace(self.workspace).items():
            known = previous.get(rel)
            if known is not None and known[0] == key and _still_held(self.store, known[1]):
                current[rel] = known
            elif budget.take(key[0]):
                current[rel] = (key, capture(self.store, self.workspace, rel))
            else:
                current[rel] = (key, NOT_KEPT)
        if current != previous:
            self._index_changed = True
        self._index = current
        return current

    def _save_index(self) -> None:
        """The last scan, for the next process (it saves reading unchanged files again); this
        one keeps it in memory, so writing it after every command was ~1-2 ms a command."""
        if self._index_changed and self._index is not None:
            self._index_changed = False
            self.store.save_index(self.workspace, self._index)

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        self._save_index()

    # -- after the call ---------------------------------------------------------------------

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        pending = self._pending.pop(e.call_id, None)
        if pending is None or e.error_kind in NEVER_RAN:
            return  # nothing ran: a change seen now would be someone else's
        what, snapshot = pending
        base = {"step": e.step, "tool": e.tool, "call_id": e.call_id}
        if what == "file":
            rel, before = snapshot
            after = capture(self.store, self.workspace, rel)
            if after != before or (e.ok and not is_known(after)):
                self._record(e, {**base, "path": rel, "before": before, "after": after})
        elif what == "cells":
            rel, room, before = snapshot
            try:
                after = self._cells(room)
            except ToolError:
                after = UNREADABLE
            if after != before:
                cells = {"path": rel, "before": before, "after": after, "room": room}
                self._record(e, {**base, **cells, "kind": "cells"})
        elif what == "unrecorded":
            change = {"path": "", "before": None, "after": None, "kind": "unrecorded"}
            self._record(e, {**base, **change, "note": snapshot})
        else:
            self._record_scan(e, base, snapshot)

    def _record_scan(self, e: ev.ToolCallFinished, base: dict, before: dict) -> None:
        try:
            after = self._rescan()
        except TooManyFiles as exc:
            note = f"{exc}: the changes of this call were not recorded"
            change = {"path": "", "before": None, "after": None, "kind": "unrecorded"}
            self._record(e, {**base, **change, "note": note})
            return
        skipped = self._open_notebook()
        for rel in sorted(before.keys() | after.keys()):
            old, new = before.get(rel), after.get(rel)
            if rel == skipped:
                continue
            if old == new:
                continue  # same stat (so the same content), or both absent
            old_sha = None if old is None else old[1]
            new_sha = None if new is None else new[1]
            if old_sha == new_sha and is_known(new_sha):
                continue  # touched, or rewritten with the same bytes
            self._record(e, {**base, "path": rel, "before": old_sha, "after": new_sha})

    def _record(self, e: ev.Event, change: dict[str, Any]) -> None:
        self.store.record(e.session_id, self.workspace, change)


def _still_held(store: CheckpointStore, sha: str | None) -> bool:
    return sha is None or not is_known(sha) or store.has(sha)
