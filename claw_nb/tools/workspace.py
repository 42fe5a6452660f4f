"""Keeping file tools inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

from claw_nb.realpaths import realpath
from claw_nb.tools.base import ToolError

_FORBIDDEN_ROOTS = (Path("/proc"),)


def _is_within(path: Path, root: Path) -> bool:
    """By string (both absolute and normalised): `root in path.parents` builds a `Path` per
    parent, and every file tool's call asks this three times or more."""
    p, r = str(path), str(root)
    return p == r or p.startswith(r if r.endswith("/") else r + "/")


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve ``path`` (relative, or absolute inside the workspace) to an absolute path.

    Symlinks are followed at every component, including the last one and dangling ones; the result
    must lie inside the workspace, otherwise :class:`ToolError` is raised. Paths through /proc are
    refused as well.
    """
    ws = Path(realpath(workspace))
    if not isinstance(path, str):
        raise ToolError(f"path must be a string, got {type(path).__name__}")
    if not path.strip():
        raise ToolError("path is empty; use a path relative to the workspace, e.g. 'src/main.py'")
    if "\x00" in path:
        raise ToolError("path contains a NUL byte; use a plain path relative to the workspace")
    if path.startswith("~"):
        raise ToolError(
            f"path {path!r}: '~' is not expanded; use a path relative to the workspace {ws}"
        )
    given = Path(path)
    candidate = given if given.is_absolute() else ws / given
    for root in _FORBIDDEN_ROOTS:
        if _is_within(Path(os.path.normpath(candidate)), root):
            raise ToolError(f"path {path!r} is under {root}, which tools may not access")
    # realpath follows symlinks (also dangling ones, as far as they go) and collapses '..'.
    try:
        resolved = Path(realpath(candidate))
    except OSError as exc:  # a link that vanished while it was followed (a concurrent command)
        raise ToolError(
            f"path {path!r} changed while it was being resolved ({exc.strerror}); try again"
        ) from None
    for root in _FORBIDDEN_ROOTS:
        if _is_within(resolved, root):
            raise ToolError(f"path {path!r} resolves to {resolved}, under {root}; not accessible")
    if not _is_within(resolved, ws):
        lexical = Path(os.path.normpath(candidate))
        if _is_within(lexical, ws):
            raise ToolError(
                f"path {path!r} resolves through a symlink to {resolved}, which is outside the "
                f"workspace {ws}; only files inside the workspace can be used"
            )
        raise ToolError(
            f"path {path!r} is outside the workspace {ws}; use a path relative to the workspace"
        )
    return resolved


def display_path(workspace: Path, path: Path) -> str:
    """``path`` relative to the workspace, in POSIX form ('.' for the workspace itself)."""
    ws = Path(realpath(workspace))
    try:
        rel = path.relative_to(ws)
    except ValueError:
        return str(path)
    return rel.as_posix() if rel.parts else "."
