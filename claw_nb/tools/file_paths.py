"""Paths as the file tools name them: the workspace's real root, a path shown relative to it,
and the error for a missing file that suggests the names it may have meant."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from claw_nb.realpaths import realpath
from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.workspace import display_path


def workspace_root(ctx: ToolContext) -> Path:
    """The workspace with its symlinks resolved: what confined paths are compared against."""
    return Path(realpath(ctx.workspace))


def shown_path(ctx: ToolContext, p: Path) -> str:
    """``p`` as the model sees it: relative to the workspace."""
    return display_path(ctx.workspace, p)


def missing_file_error(ctx: ToolContext, path: str, resolved: Path) -> ToolError:
    """A missing file's error, naming close matches in its directory (or a missing directory)."""
    parent = resolved.parent
    msg = f"file {path!r} does not exist"
    if not parent.is_dir():
        return ToolError(
            f"{msg} (directory {shown_path(ctx, parent)!r} does not exist either); "
            "use list_files to see what exists"
        )
    try:
        names = os.listdir(parent)
    except OSError:
        names = []
    close = difflib.get_close_matches(resolved.name, names, n=3, cutoff=0.5)
    if close:
        options = ", ".join(repr(shown_path(ctx, parent / c)) for c in close)
        return ToolError(f"{msg}. Did you mean: {options}?")
    return ToolError(f"{msg}; use list_files to see what exists")
