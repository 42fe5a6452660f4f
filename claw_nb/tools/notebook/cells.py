"""Cells addressed by id or index, and new cells made the way Jupyter makes them."""

from __future__ import annotations

import uuid
from typing import Any

from claw_nb.records import record
from claw_nb.tools.base import ToolError


@record
class _Target:
    index: int
    insert_at: int | None = None  # insert mode: where the new cell goes


def find_target(
    cells: list[dict],
    ids: list[str],
    mode: str,
    cell_id: str | None,
    index: int | None,
) -> _Target:
    n = len(cells)
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise ToolError(f"index must be an integer cell index, got {index!r}")
    pos_by_id: int | None = None
    if cell_id is not None:
        if not isinstance(cell_id, str) or not cell_id.strip():
            raise ToolError("cell_id must be a non-empty string from notebook_read")
        cid = cell_id.strip()
        cid = cid.removeprefix("id=")
        if cid not in ids:
            listing = ", ".join(ids[:30]) + (" ..." if n > 30 else "")
            raise ToolError(
                f"no cell with id {cid!r}; the cells' ids are: {listing or '(no cells)'}. "
                "Read the notebook again with notebook_read if it may have changed."
            )
        pos_by_id = ids.index(cid)
    if mode == "insert":
        if pos_by_id is not None:
            at = pos_by_id + 1
            if index is not None and index != at:
                raise ToolError(
                    f"cell_id {cell_id!r} means insert after it, at index {at}, but index={index} "
                    "was given too; give only one of them"
                )
            return _Target(pos_by_id, at)
        if index is None:
            return _Target(n, n)
        if index < 0 or index > n:
            raise ToolError(f"insert index {index} is out of range: use 0..{n} ({n} appends)")
        return _Target(index, index)
    if pos_by_id is not None:
        if index is not None and index != pos_by_id:
            raise ToolError(
                f"cell_id {cell_id!r} is the cell at index {pos_by_id}, not {index}; give only "
                "cell_id (preferred) or index"
            )
        return _Target(pos_by_id)
    if index is None:
        raise ToolError(f"mode {mode!r} needs the cell: give cell_id (from notebook_read) or index")
    if not cells:
        raise ToolError("the notebook has no cells; use mode 'insert' to add one")
    if index < 0 or index >= n:
        raise ToolError(f"index {index} is out of range: the notebook has cells 0..{n - 1}")
    return _Target(index)


def new_cell(cell_type: str, source: Any, minor: int, ids: set[str]) -> dict:
    cell: dict[str, Any] = {"cell_type": cell_type}
    if cell_type == "code":
        cell["execution_count"] = None
    if minor >= 5:
        cid = uuid.uuid4().hex[:8]
        while cid in ids:
            cid = uuid.uuid4().hex[:8]
        cell["id"] = cid
    cell["metadata"] = {}
    if cell_type == "code":
        cell["outputs"] = []
    cell["source"] = source
    return cell


def retype_cell(cell: dict, cell_type: str, source: Any) -> dict:
    """``cell`` turned into ``cell_type``: id and metadata kept, outputs only for code."""
    new: dict[str, Any] = {"cell_type": cell_type}
    if cell_type == "code":
        new["execution_count"] = None
    if "id" in cell:
        new["id"] = cell["id"]
    new["metadata"] = cell.get("metadata") or {}
    if cell_type == "code":
        new["outputs"] = []
    elif cell.get("attachments") and cell.get("cell_type") in ("markdown", "raw"):
        new["attachments"] = cell["attachments"]
    new["source"] = source
    return dict(sorted(new.items())) if list(cell) == sorted(cell) else new
