"""Notebook tools: notebook_read and notebook_edit.

Notebooks are read as JSON (no nbformat import needed) and edited as JSON too: the edited file is
serialised with the layout it had (Jupyter's is indent=1, sorted keys, non-ASCII kept, trailing
newline), so every cell the edit does not touch keeps its outputs, metadata and bytes. The result
is checked with `nbformat.validate` before the atomic write; an invalid result leaves the file
untouched. nbformat is imported only then (it costs over a second).

The notebook the kernel runs in is open in JupyterLab, whose copy would overwrite (or fight with)
a rewritten file. So, when the tools are bound to a shell (`bind_notebook_tools`), that notebook
is never written to disk: in "disk" mode an insert becomes one proposed cell below the running
cell (`shell.set_next_input(..., replace=False)`) and replace/delete are refused; in "live" mode
(jupyter-collaboration, see `claw_nb.tools.notebook.live`) cells are edited in the shared document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_nb.tools.base import Tool
from claw_nb.tools.notebook.binding import UNBOUND, NotebookBinding, bind_tool
from claw_nb.tools.notebook.edit import notebook_edit_impl
from claw_nb.tools.notebook.read import notebook_read_impl
from claw_nb.tools.notebook.render import data_size, human_size, strip_ansi

__all__ = [
    "NotebookBinding",
    "bind_notebook_tools",
    "data_size",
    "human_size",
    "notebook_edit",
    "notebook_read",
    "strip_ansi",
]


def bind_notebook_tools(
    shell: Any = None,
    prefer: str = "auto",
    propose: Callable[[str, str], str | None] | None = None,
) -> list[Tool]:
    """[notebook_read, notebook_edit] bound to ``shell`` (None: outside a kernel).

    ``prefer`` is the notebook mode from the settings: "auto" (live when available), "disk" or
    "live". ``propose`` lets a widget front end show a cell proposed from a background run."""
    binding = NotebookBinding(shell, prefer, propose)
    return [
        bind_tool(notebook_read_impl, binding, "read", "notebook_read"),
        bind_tool(notebook_edit_impl, binding, "edit", "notebook_edit"),
    ]


# Not bound to a kernel (the CLI): the notebook named by JPY_SESSION_NAME is still protected.
notebook_read = bind_tool(notebook_read_impl, UNBOUND, "read", "notebook_read")
notebook_edit = bind_tool(notebook_edit_impl, UNBOUND, "edit", "notebook_edit")
