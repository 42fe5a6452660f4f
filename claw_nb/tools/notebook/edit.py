"""notebook_edit: replace, insert or delete one cell, keeping every other cell's bytes."""

from __future__ import annotations

from typing import Literal

from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.notebook.binding import NotebookBinding, live_room
from claw_nb.tools.notebook.cells import find_target, new_cell, retype_cell
from claw_nb.tools.notebook.document import (
    detect_layout,
    load_notebook_json,
    new_notebook,
    remember_read,
    resolve_notebook,
    source_value,
    validate_notebook,
)
from claw_nb.tools.notebook.render import CELL_TYPES, cell_ids
from claw_nb.tools.notebook.running import edit_live, propose_cell
from claw_nb.tools.safe_io import write_atomic
from claw_nb.tools.workspace import display_path


def _check_edit_args(mode: str, source: str | None, cell_type: str | None) -> None:
    if mode not in ("replace", "insert", "delete"):
        raise ToolError(f"mode must be 'replace', 'insert' or 'delete', got {mode!r}")
    if cell_type is not None and cell_type not in CELL_TYPES:
        raise ToolError(f"cell_type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r}")
    if mode in ("replace", "insert"):
        if source is None:
            raise ToolError(f"mode {mode!r} needs `source`, the new cell's complete text")
        if not isinstance(source, str):
            raise ToolError(f"source must be a string, got {type(source).__name__}")


def notebook_edit_impl(
    ctx: ToolContext,
    binding: NotebookBinding,
    path: str,
    source: str | None = None,
    cell_id: str | None = None,
    index: int | None = None,
    cell_type: Literal["code", "markdown", "raw"] | None = None,
    mode: Literal["replace", "insert", "delete"] = "replace",
) -> str:
    """Replace, insert or delete one notebook cell, found by cell_id from notebook_read
    (preferred) or index. Insert goes after cell_id, at index, or at the end; inserting into a
    missing notebook creates it. Replacing a code cell clears its outputs. Refused if the file
    changed since notebook_read.

    Args:
        path: Notebook path, e.g. 'analysis.ipynb'.
        source: The cell's complete new text (replace, insert).
        cell_id: The cell to replace or delete, or to insert after.
        index: 0-based index of the cell to replace or delete, or of the new cell.
        cell_type: For insert (default code), or to change a cell's type.
        mode: What to do with the cell.
    """
    _check_edit_args(mode, source, cell_type)
    resolved = resolve_notebook(ctx, path)
    name = display_path(ctx.workspace, resolved)
    current = binding.current_notebook()
    if current is not None and current == resolved:
        room = live_room(binding, resolved)
        if room is not None:
            return edit_live(
                ctx, binding, room, resolved, name, source, cell_id, index, cell_type, mode
            )
        return propose_cell(binding, name, source, cell_type, mode)
    if not resolved.exists():
        if mode != "insert":
            raise ToolError(
                f"notebook {path!r} does not exist; use mode 'insert' to create it with a cell"
            )
        text, nb = new_notebook(resolved)
        created = True
    else:
        created = False
        key = str(resolved)
        if key not in ctx.read_files:
            raise ToolError(
                f"read {name} with notebook_read before editing it, so you edit what is there"
            )
        try:
            mtime = resolved.stat().st_mtime
        except OSError as e:
            raise ToolError(f"cannot stat {path!r}: {e.strerror or e}") from e
        if mtime != ctx.read_files[key]:
            raise ToolError(
                f"{name} changed on disk since you last read it; read it again with "
                "notebook_read and redo the edit against its current content"
            )
        text, nb = load_notebook_json(ctx.workspace, path, resolved)
    if int(nb.get("nbformat") or 0) != 4:
        raise ToolError(
            f"{name} is in nbformat {nb.get('nbformat')}; only format 4 notebooks can be edited "
            "(open and save it in Jupyter to upgrade it)"
        )
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ToolError(f"{name} has no cell list; it is not a valid notebook")
    layout = detect_layout(text, nb)
    minor = int(nb.get("nbformat_minor") or 0)
    ids, made_up = cell_ids(cells, minor)
    target = find_target(cells, ids, mode, cell_id, index)
    if minor >= 5 and made_up:  # 4.5+ requires ids: store the ones shown by notebook_read
        for cell, cid in zip(cells, ids):
            if isinstance(cell, dict) and not cell.get("id"):
                cell["id"] = cid
    note = ""
    if mode == "insert":
        new = new_cell(cell_type or "code", source_value(source or "", layout), minor, set(ids))
        cells.insert(target.insert_at, new)
        at = target.insert_at
        shown_id = new.get("id") or f"cell-{at}"
        what = f"Inserted {new['cell_type']} cell [{at}] id={shown_id}"
        if created:
            what = f"Created {name} with a {new['cell_type']} cell [{at}] id={shown_id}"
        elif minor < 5:
            note = " (ids of the cells after it shifted: read the notebook again before using them)"
    elif mode == "replace":
        old = cells[target.index]
        new_source = source_value(source or "", layout)
        if cell_type and cell_type != old.get("cell_type"):
            cells[target.index] = retype_cell(old, cell_type, new_source)
            what = (
                f"Replaced cell [{target.index}] id={ids[target.index]} and made it "
                f"{cell_type} (was {old.get('cell_type')})"
            )
        else:
            old["source"] = new_source
            what = (
                f"Replaced the source of {old.get('cell_type')} cell [{target.index}] "
                f"id={ids[target.index]}"
            )
            if old.get("cell_type") == "code":
                had = bool(old.get("outputs")) or old.get("execution_count") is not None
                old["outputs"] = []
                old["execution_count"] = None
                if had:
                    what += "; its outputs and execution count were cleared (they were stale)"
    else:
        old = cells.pop(target.index)
        what = f"Deleted {old.get('cell_type')} cell [{target.index}] id={ids[target.index]}"
        if minor < 5:
            note = " (ids of the cells after it shifted: read the notebook again before using them)"
    problem = validate_notebook(nb)
    if problem is not None:
        raise ToolError(
            f"the edit would make {name} an invalid notebook, so nothing was written: {problem}"
        )
    try:
        write_atomic(
            ctx.workspace,
            resolved,
            layout.dumps(nb).encode("utf-8"),
            expected=None if created else text.encode("utf-8"),
        )
    except OSError as e:
        raise ToolError(f"cannot write {path!r}: {e.strerror or e}") from e
    remember_read(ctx, resolved)
    extra = ""
    if not layout.faithful and not created:
        extra = " (the file's JSON layout was not Jupyter's; it was rewritten in Jupyter's)"
    if minor >= 5 and made_up:
        extra += " (cells that had no id got the ids notebook_read showed)"
    return f"{what} in {name}.{note}{extra}"
