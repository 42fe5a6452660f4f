"""A notebook file as JSON: find, load, validate, and write it back with the layout it had."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from claw_nb.records import record
from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.safe_io import read_prefix
from claw_nb.tools.workspace import resolve_in_workspace

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


def resolve_notebook(ctx: ToolContext, path: str) -> Path:
    resolved = resolve_in_workspace(ctx.workspace, path)
    if resolved.suffix != ".ipynb":
        raise ToolError(
            f"{path!r} is not a notebook (.ipynb); use read_file / edit_file for other files"
        )
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory, not a notebook")
    return resolved


def load_notebook_json(workspace: Path, path: str, resolved: Path) -> tuple[str, dict]:
    if not resolved.exists():
        raise ToolError(f"notebook {path!r} does not exist; use list_files to find notebooks")
    try:
        data, size = read_prefix(workspace, resolved, path, MAX_NOTEBOOK_BYTES + 1)
        if size > MAX_NOTEBOOK_BYTES:
            raise ToolError(
                f"{path!r} is {size} bytes, over the {MAX_NOTEBOOK_BYTES} bytes notebook tools read"
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ToolError(f"cannot read {path!r}: {e}") from e
    try:
        nb = json.loads(text)
    except ValueError as e:
        raise ToolError(f"{path!r} is not valid notebook JSON: {e}") from e
    if not isinstance(nb, dict):
        raise ToolError(f"{path!r} is not a notebook: its JSON is not an object")
    return text, nb


def upgrade_v3(nb: dict) -> dict:
    """A notebook in format 3 or older, converted in memory to format 4 (for reading only)."""
    import nbformat

    return nbformat.convert(nbformat.from_dict(nb), 4)


def remember_read(ctx: ToolContext, resolved: Path) -> None:
    try:
        ctx.read_files[str(resolved)] = resolved.stat().st_mtime
    except OSError:
        pass


@record(frozen=True)
class Layout:
    indent: int | None
    ensure_ascii: bool
    newline: bool
    list_sources: bool
    faithful: bool  # re-serialising the unchanged notebook gives back the same text
    separators: tuple[str, str] = (",", ": ")

    def dumps(self, nb: dict) -> str:
        text = json.dumps(
            nb, indent=self.indent, ensure_ascii=self.ensure_ascii, separators=self.separators
        )
        return text + "\n" if self.newline else text


def detect_layout(text: str, nb: dict) -> Layout:
    """How the file was serialised (Jupyter: indent 1, sorted keys, non-ASCII kept, final
    newline), found by re-serialising the parsed notebook until the text matches."""
    m = re.match(r"\{\r?\n( +)\"", text)
    indent = len(m.group(1)) if m else (None if "\n" not in text.strip() else 1)
    newline = text.endswith("\n")
    list_sources = True
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict) and cell.get("source"):
            list_sources = isinstance(cell["source"], list)
            break
    seps = [(",", ": ")] if indent is not None else [(",", ":"), (", ", ": ")]
    for separators in seps:
        for ensure_ascii in (False, True):
            layout = Layout(indent, ensure_ascii, newline, list_sources, True, separators)
            if layout.dumps(nb) == text:
                return layout
    return Layout(indent, False, newline, list_sources, False, seps[0])


def source_value(source: str, layout: Layout) -> Any:
    return source.splitlines(keepends=True) if layout.list_sources else source


def validate_notebook(nb: dict) -> str | None:
    """None if ``nb`` is a valid notebook, else a short description of what is wrong."""
    import warnings

    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
    except nbformat.ValidationError as e:
        where = "/".join(str(p) for p in getattr(e, "absolute_path", []) or [])
        message = str(getattr(e, "message", "") or e).split("\n")[0]
        return f"{message}" + (f" (at {where})" if where else "")
    return None


def new_notebook(resolved: Path) -> tuple[str, dict]:
    nb = {
        "cells": [],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, ensure_ascii=False, separators=(",", ": ")) + "\n", nb
