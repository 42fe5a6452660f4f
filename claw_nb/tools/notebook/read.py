"""notebook_read: a notebook's cells, from the file or from the live shared document."""

from __future__ import annotations

from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.notebook.binding import NotebookBinding, live_call, live_room
from claw_nb.tools.notebook.document import (
    load_notebook_json,
    remember_read,
    resolve_notebook,
    upgrade_v3,
)
from claw_nb.tools.notebook.render import DEFAULT_CELL_LIMIT, cell_ids, render_notebook
from claw_nb.tools.workspace import display_path


def notebook_read_impl(
    ctx: ToolContext,
    binding: NotebookBinding,
    path: str,
    start: int = 0,
    limit: int = DEFAULT_CELL_LIMIT,
) -> str:
    """Read a Jupyter notebook: each cell's index, id, type and numbered source (the numbers
    are not part of it), with a short summary of its outputs. Read it before notebook_edit.

    Args:
        path: Notebook path, e.g. 'analysis.ipynb'.
        start: First cell to show (0-based index).
        limit: Maximum cells to show.
    """
    if not isinstance(start, int) or start < 0:
        raise ToolError(f"start must be a cell index >= 0, got {start!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a positive number of cells, got {limit!r}")
    resolved = resolve_notebook(ctx, path)
    name = display_path(ctx.workspace, resolved)
    notes: list[str] = []
    room = live_room(binding, resolved) if resolved.exists() else None
    if room is not None:

        def snapshot(doc):
            return {
                "nbformat": doc.nbformat,
                "nbformat_minor": doc.nbformat_minor,
                "metadata": doc.metadata,
            }, doc.cells()

        nb, cells = live_call(binding, room, snapshot)
        notes.append("(live: read from the document open in JupyterLab, including unsaved changes)")
    else:
        _, nb = load_notebook_json(ctx.workspace, path, resolved)
        if int(nb.get("nbformat") or 0) < 4:
            notes.append(
                f"(nbformat {nb.get('nbformat')} notebook, shown converted to format 4; "
                "notebook_edit cannot change it: open and save it in Jupyter to upgrade it)"
            )
            nb = upgrade_v3(nb)
        cells = [c for c in nb.get("cells") or [] if isinstance(c, dict)]
    minor = int(nb.get("nbformat_minor") or 0)
    ids, made_up = cell_ids(cells, minor)
    if made_up:
        if minor < 5:
            notes.append(
                f"(nbformat 4.{minor} has no cell ids: ids shown as cell-<index> are positions, "
                "so read the notebook again after inserting or deleting cells)"
            )
        else:
            notes.append(
                "(some cells have no id although nbformat 4.5+ requires one: they are shown as "
                "cell-<index> and get that id when the notebook is edited)"
            )
    current = binding.current_notebook()
    if current is not None and current == resolved:
        if room is not None:
            notes.append("(this is the notebook the kernel runs in; edits go live)")
        else:
            notes.append(
                "(this is the notebook the kernel runs in, open in Jupyter: this is its file, "
                "which may lag behind unsaved changes in the browser; notebook_edit cannot "
                "rewrite it, only propose one new cell below the running cell)"
            )
    remember_read(ctx, resolved)
    return render_notebook(name, nb, cells, ids, notes, start, limit)
