"""Checkpoints of a notebook edited live, through JupyterLab's shared document.

In live mode (`claw_nb.tools.notebook.live`) notebook_edit changes the document JupyterLab
holds, and the server saves the file some time later: a snapshot of the file would miss the
edit, and writing the file back would fight with the open notebook. So such a notebook is
recorded as its cells (type and source, in order) before and after the edit, and a rewind
edits the shared document back: the fewest cell inserts, deletes and replacements that turn
the cells now into the cells before (`cell_edits`). Outputs are not restored.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

Cells = list[tuple[str, str]]  # (cell_type, source) per cell, in order


def cells_blob(cells: Cells) -> bytes:
    """The canonical bytes of a cell list (what the store keeps and hashes)."""
    return json.dumps([list(c) for c in cells], ensure_ascii=False).encode("utf-8")


def cells_from_blob(data: bytes) -> Cells:
    return [(str(kind), str(source)) for kind, source in json.loads(data)]


def cell_edits(now: Cells, target: Cells) -> list[tuple[str, int, str, str]]:
    """(operation, index, cell_type, source) edits that turn `now` into `target` when applied
    in order: "replace" a cell in place (its id and metadata stay), "delete" one, "insert" one
    at an index. Later positions are edited first, so each index holds as written."""
    edits: list[tuple[str, int, str, str]] = []
    matcher = difflib.SequenceMatcher(a=now, b=target, autojunk=False)
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == "equal":
            continue
        common = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(common):
            edits.append(("replace", i1 + k, *target[j1 + k]))
        for index in range(i2 - 1, i1 + common - 1, -1):
            edits.append(("delete", index, "", ""))
        for k in range(common, j2 - j1):
            edits.append(("insert", i1 + k, *target[j1 + k]))
    return edits


def apply_edits(cells: Cells, edits: list[tuple[str, int, str, str]]) -> Cells:
    """`cells` after `edits` (what `LiveCells.restore` does to the shared document)."""
    out = list(cells)
    for operation, index, kind, source in edits:
        if operation == "replace":
            out[index] = (kind, source)
        elif operation == "delete":
            del out[index]
        else:
            out.insert(index, (kind, source))
    return out


class LiveCells:
    """The notebooks a kernel's notebook tools edit live: which they are, their cells now, and
    putting cells back. Built by the notebook shell from the tools' `NotebookBinding`."""

    def __init__(self, binding: Any) -> None:
        self.binding = binding

    def room_for(self, path: Path) -> str | None:
        """The server-relative path of `path` when notebook_edit edits it live, else None."""
        from claw_nb.tools.notebook.binding import live_room

        try:
            return live_room(self.binding, path)
        except Exception:  # noqa: BLE001 - mode detection failed: the tool works on the file
            return None

    def open_notebook(self) -> Path | None:
        """The notebook this kernel runs in (JupyterLab holds it), if known."""
        try:
            return self.binding.current_notebook()
        except Exception:  # noqa: BLE001 - unknown: nothing is treated as open
            return None

    def cells(self, room: str) -> Cells:
        from claw_nb.tools.notebook.binding import live_call

        def read(doc: Any) -> Cells:
            return [(str(c.get("cell_type")), str(c.get("source", ""))) for c in doc.cells()]

        return live_call(self.binding, room, read)

    def restore(self, room: str, target: Cells) -> None:
        from claw_nb.tools.notebook.binding import live_call

        def edit(doc: Any) -> None:
            now = [(str(c.get("cell_type")), str(c.get("source", ""))) for c in doc.cells()]
            for operation, index, kind, source in cell_edits(now, target):
                if operation == "replace":
                    doc.replace(index, source, kind)
                elif operation == "delete":
                    doc.delete(index)
                else:
                    doc.insert(index, kind, source)

        live_call(self.binding, room, edit)
