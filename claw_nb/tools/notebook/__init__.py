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

import base64
import copy
import functools
import inspect
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from claw_nb.textclip import clip_middle
from claw_nb.tools.base import Tool, ToolContext, ToolError, derive_tool
from claw_nb.tools.fsutil import atomic_write
from claw_nb.tools.safe_io import read_prefix, write_atomic
from claw_nb.tools.workspace import display_path, resolve_in_workspace

MAX_READ_CHARS = 100_000
MAX_CELL_SOURCE_CHARS = 20_000
MAX_TRACEBACK_CHARS = 8_000
MAX_TEXT_OUTPUT_LINES = 6
MAX_OUTPUT_LINE_CHARS = 200
DEFAULT_CELL_LIMIT = 200
CELL_TYPES = ("code", "markdown", "raw")

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor escape sequences."""
    return _ANSI_RE.sub("", text)


# ---------------------------------------------------------------------------------------------
# Binding to a shell


@dataclass
class NotebookBinding:
    """What the notebook tools know about the kernel they serve.

    ``shell`` is the IPython shell (None: tools used outside a kernel, e.g. from the CLI).
    ``prefer`` is the settings' notebook mode: "auto", "disk" or "live". The mode is detected
    once, on first use, and cached.
    """

    shell: Any = None
    prefer: str = "auto"
    # A front end that shows a proposed cell from a background run (the notebook widget):
    # propose(source, cell_type) -> what to tell the model, or None when it cannot.
    propose: Callable[[str, str], str | None] | None = None
    _mode: Any = field(default=None, repr=False)

    def mode(self):
        """The :class:`claw_nb.tools.notebook.live.NotebookMode` (detected once per bound shell)."""
        from claw_nb.tools.notebook.live import (
            NotebookMode,
            current_notebook_path,
            detect_notebook_mode,
        )

        if self.shell is None:  # cheap (environment only), and never cached
            return NotebookMode("disk", "no kernel bound to the tools", current_notebook_path(None))
        if self._mode is None:
            try:
                self._mode = detect_notebook_mode(self.shell, self.prefer)
            except Exception as e:  # noqa: BLE001 (detection must never break a tool call)
                self._mode = NotebookMode(
                    "disk", f"mode detection failed: {e}", current_notebook_path(self.shell)
                )
        return self._mode

    def current_notebook(self) -> Path | None:
        nb = self.mode().notebook
        return Path(os.path.realpath(nb)) if nb else None


_UNBOUND = NotebookBinding()


def _bind(func: Callable[..., str], binding: NotebookBinding, kind: str, name: str) -> Tool:
    """A Tool calling ``func(ctx, binding, **arguments)``, with func's schema minus `binding`."""

    @functools.wraps(func)
    def bound(ctx: ToolContext, **kwargs: Any) -> str:
        return func(ctx, binding, **kwargs)

    sig = inspect.signature(func)
    params = [p for name, p in sig.parameters.items() if name != "binding"]
    bound.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    bound.__annotations__ = {k: v for k, v in func.__annotations__.items() if k != "binding"}
    del bound.__wrapped__  # derive_tool must see the signature above, not func's
    return derive_tool(bound, kind, name=name)


# ---------------------------------------------------------------------------------------------
# Reading


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


def _resolve_notebook(ctx: ToolContext, path: str) -> Path:
    resolved = resolve_in_workspace(ctx.workspace, path)
    if resolved.suffix != ".ipynb":
        raise ToolError(
            f"{path!r} is not a notebook (.ipynb); use read_file / edit_file for other files"
        )
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory, not a notebook")
    return resolved


def _load_json(workspace: Path, path: str, resolved: Path) -> tuple[str, dict]:
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


def _upgrade_v3(nb: dict) -> dict:
    """A notebook in format 3 or older, converted in memory to format 4 (for reading only)."""
    import nbformat

    return nbformat.convert(nbformat.from_dict(nb), 4)


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _cell_ids(cells: list[dict], minor: int) -> tuple[list[str], bool]:
    """(an id for every cell, whether any had to be made up).

    Cells without an id (nbformat < 4.5 has none) get `cell-<index>`, made unique; these
    addresses are positions and shift when cells are inserted or deleted.
    """
    taken = {c.get("id") for c in cells if isinstance(c.get("id"), str) and c.get("id")}
    ids: list[str] = []
    made_up = False
    for i, cell in enumerate(cells):
        cid = cell.get("id")
        if isinstance(cid, str) and cid:
            ids.append(cid)
            continue
        made_up = True
        candidate, n = f"cell-{i}", 0
        while candidate in taken:
            n += 1
            candidate = f"cell-{i}-{n}"
        taken.add(candidate)
        ids.append(candidate)
    return ids, made_up


def _short_lines(text: str, max_lines: int = MAX_TEXT_OUTPUT_LINES) -> list[str]:
    lines = [
        ln[:MAX_OUTPUT_LINE_CHARS] + ("..." if len(ln) > MAX_OUTPUT_LINE_CHARS else "")
        for ln in strip_ansi(text).rstrip("\n").split("\n")
    ]
    if len(lines) <= max_lines:
        return lines
    head = max_lines // 2
    tail = max_lines - head - 1
    return [*lines[:head], f"... [{len(lines) - head - tail} more lines] ...", *lines[-tail:]]


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def data_size(value: Any, mime: str) -> int:
    text = "".join(value) if isinstance(value, list) else value
    if not isinstance(text, str):
        text = json.dumps(text)
    if mime.startswith("image/") and mime != "image/svg+xml":
        compact = "".join(text.split())
        try:
            return len(base64.b64decode(compact, validate=False))
        except (ValueError, TypeError):
            return len(compact) * 3 // 4
    return len(text.encode("utf-8"))


def summarize_output(output: dict) -> list[str]:
    """Lines describing one nbformat output: text shortened, rich data by type and size, errors
    in full (ANSI codes stripped)."""
    kind = output.get("output_type")
    if kind == "stream":
        text = _cell_source({"source": output.get("text", "")})
        n = text.rstrip("\n").count("\n") + 1 if text else 0
        name = output.get("name", "stream")
        shown = _short_lines(text)
        if n <= 1:
            return [f"{name}: {shown[0] if shown else ''}"]
        return [f"{name} ({n} lines):", *("  " + ln for ln in shown)]
    if kind == "error":
        ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
        tb = "\n".join(strip_ansi(str(x)) for x in output.get("traceback") or [])
        lines = [f"error: {ename}: {strip_ansi(str(evalue))}"]
        if tb.strip():
            lines += ["  " + ln for ln in clip_middle(tb, MAX_TRACEBACK_CHARS).split("\n")]
        return lines
    if kind in ("execute_result", "display_data", "update_display_data"):
        data = output.get("data") or {}
        label = kind
        if kind == "execute_result" and output.get("execution_count") is not None:
            label = f"execute_result [{output['execution_count']}]"
        others = [
            f"{mime} ({human_size(data_size(value, mime))})"
            for mime, value in data.items()
            if mime != "text/plain"
        ]
        if "text/plain" in data:
            text = _cell_source({"source": data["text/plain"]})
            shown = _short_lines(text)
            lines = [f"{label}: {shown[0]}" if len(shown) == 1 else f"{label}:"]
            if len(shown) > 1:
                lines += ["  " + ln for ln in shown]
            if others:
                lines.append("  also: " + ", ".join(others))
            return lines
        return [f"{label}: " + (", ".join(others) or "(empty)")]
    return [f"{kind or 'unknown output'}"]


def format_cell(index: int, cid: str, cell: dict) -> str:
    ctype = cell.get("cell_type", "?")
    head = f"[{index}] id={cid} {ctype}"
    if ctype == "code" and cell.get("execution_count") is not None:
        head += f" (execution_count {cell['execution_count']})"
    if cell.get("attachments"):
        head += f" (attachments: {', '.join(sorted(cell['attachments']))})"
    source = clip_middle(_cell_source(cell), MAX_CELL_SOURCE_CHARS)
    lines = [head]
    if source:
        lines += [f"{n:>6}\t{line}" for n, line in enumerate(source.split("\n"), 1)]
    else:
        lines.append("      (empty)")
    outputs = cell.get("outputs") or []
    if outputs:
        lines.append("  outputs:")
        for out in outputs:
            summary = summarize_output(out) if isinstance(out, dict) else [str(out)]
            lines.append("    - " + summary[0])
            lines += ["      " + ln for ln in summary[1:]]
    return "\n".join(lines)


def render_notebook(
    name: str,
    nb: dict,
    cells: list[dict],
    ids: list[str],
    notes: list[str],
    start: int = 0,
    limit: int = DEFAULT_CELL_LIMIT,
) -> str:
    meta = nb.get("metadata") or {}
    kernel = (meta.get("kernelspec") or {}).get("name") or (meta.get("language_info") or {}).get(
        "name"
    )
    header = (
        f"{name}: {len(cells)} cell{'s' if len(cells) != 1 else ''}, "
        f"nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')}"
        + (f", kernel {kernel}" if kernel else "")
    )
    parts = [header, *notes]
    chars = sum(len(p) for p in parts)
    end = min(len(cells), start + limit)
    shown_to = start
    for i in range(start, end):
        block = format_cell(i, ids[i], cells[i])
        if chars + len(block) > MAX_READ_CHARS and i > start:
            break
        parts.append("")
        parts.append(block)
        chars += len(block)
        shown_to = i + 1
    if start >= len(cells) and cells:
        parts.append(f"\n[start={start} is past the last cell, index {len(cells) - 1}]")
    elif shown_to < len(cells):
        parts.append(
            f"\n[Showing cells {start}-{shown_to - 1} of {len(cells)}. "
            f"Use start={shown_to} to read more.]"
        )
    return "\n".join(parts)


def _remember(ctx: ToolContext, resolved: Path) -> None:
    try:
        ctx.read_files[str(resolved)] = resolved.stat().st_mtime
    except OSError:
        pass


def _live_room(binding: NotebookBinding, resolved: Path) -> str | None:
    if binding.shell is None:
        return None
    return binding.mode().room_for(resolved)


def _live(binding: NotebookBinding, room: str):
    from claw_nb.tools.notebook.live import LiveNotebook

    return LiveNotebook(binding.mode().server, room)


def _live_call(binding: NotebookBinding, room: str, fn: Callable[[Any], Any]) -> Any:
    from claw_nb.tools.notebook.live import LiveNotebookError

    try:
        return _live(binding, room).run(fn)
    except LiveNotebookError as e:
        raise ToolError(f"{e}. Try again, or ask the user to check JupyterLab.") from e


def notebook_read_impl(
    ctx: ToolContext,
    binding: NotebookBinding,
    path: str,
    start: int = 0,
    limit: int = DEFAULT_CELL_LIMIT,
) -> str:
    """Read a Jupyter notebook (.ipynb): every cell with its index, id, type and line-numbered
    source (the numbers are not part of the source), and a short summary of its outputs (stream
    text shortened, rich outputs by type and size, errors with their full traceback). Use the ids
    with notebook_edit. Read a notebook before editing it.

    Args:
        path: Notebook path relative to the workspace, e.g. 'analysis.ipynb'.
        start: Index of the first cell to show (0-based), for long notebooks.
        limit: Maximum number of cells to show.
    """
    if not isinstance(start, int) or start < 0:
        raise ToolError(f"start must be a cell index >= 0, got {start!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a positive number of cells, got {limit!r}")
    resolved = _resolve_notebook(ctx, path)
    name = display_path(ctx.workspace, resolved)
    notes: list[str] = []
    room = _live_room(binding, resolved) if resolved.exists() else None
    if room is not None:

        def snapshot(doc):
            return {
                "nbformat": doc.nbformat,
                "nbformat_minor": doc.nbformat_minor,
                "metadata": doc.metadata,
            }, doc.cells()

        nb, cells = _live_call(binding, room, snapshot)
        notes.append("(live: read from the document open in JupyterLab, including unsaved changes)")
    else:
        _, nb = _load_json(ctx.workspace, path, resolved)
        if int(nb.get("nbformat") or 0) < 4:
            notes.append(
                f"(nbformat {nb.get('nbformat')} notebook, shown converted to format 4; "
                "notebook_edit cannot change it: open and save it in Jupyter to upgrade it)"
            )
            nb = _upgrade_v3(nb)
        cells = [c for c in nb.get("cells") or [] if isinstance(c, dict)]
    minor = int(nb.get("nbformat_minor") or 0)
    ids, made_up = _cell_ids(cells, minor)
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
    _remember(ctx, resolved)
    return render_notebook(name, nb, cells, ids, notes, start, limit)


# ---------------------------------------------------------------------------------------------
# Editing


@dataclass
class _Target:
    index: int
    insert_at: int | None = None  # insert mode: where the new cell goes


def _find_target(
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


def _new_cell(cell_type: str, source: Any, minor: int, ids: set[str]) -> dict:
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


def _retype(cell: dict, cell_type: str, source: Any) -> dict:
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


@dataclass(frozen=True)
class _Layout:
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


def _detect_layout(text: str, nb: dict) -> _Layout:
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
            layout = _Layout(indent, ensure_ascii, newline, list_sources, True, separators)
            if layout.dumps(nb) == text:
                return layout
    return _Layout(indent, False, newline, list_sources, False, seps[0])


def _source_value(source: str, layout: _Layout) -> Any:
    return source.splitlines(keepends=True) if layout.list_sources else source


def _validate(nb: dict) -> str | None:
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


def _check_args(mode: str, source: str | None, cell_type: str | None) -> None:
    if mode not in ("replace", "insert", "delete"):
        raise ToolError(f"mode must be 'replace', 'insert' or 'delete', got {mode!r}")
    if cell_type is not None and cell_type not in CELL_TYPES:
        raise ToolError(f"cell_type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r}")
    if mode in ("replace", "insert"):
        if source is None:
            raise ToolError(f"mode {mode!r} needs `source`, the new cell's complete text")
        if not isinstance(source, str):
            raise ToolError(f"source must be a string, got {type(source).__name__}")


def _new_notebook(resolved: Path) -> tuple[str, dict]:
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
    """Change one cell of a Jupyter notebook: replace its source, insert a new cell, or delete
    it. Address cells by cell_id from notebook_read (preferred) or by index. Insert puts the new
    cell right AFTER cell_id, or AT index (the new cell gets that index), or at the end if
    neither is given; inserting into a notebook that does not exist creates it. Replacing a code
    cell clears its outputs and execution count (they would be stale); every other cell keeps its
    outputs and metadata. Read the notebook with notebook_read first; an edit is refused if the
    file changed since.

    Args:
        path: Notebook path relative to the workspace, e.g. 'analysis.ipynb'.
        source: The cell's complete new text (for replace and insert; ignored by delete).
        cell_id: Id of the cell to replace or delete, or to insert after (from notebook_read).
        index: 0-based index of the cell to replace or delete, or the index a new cell gets.
        cell_type: 'code', 'markdown' or 'raw'; for insert (default code) or to change a cell's
            type on replace.
        mode: 'replace' (default), 'insert' or 'delete'.
    """
    _check_args(mode, source, cell_type)
    resolved = _resolve_notebook(ctx, path)
    name = display_path(ctx.workspace, resolved)
    current = binding.current_notebook()
    if current is not None and current == resolved:
        room = _live_room(binding, resolved)
        if room is not None:
            return _edit_live(
                ctx, binding, room, resolved, name, source, cell_id, index, cell_type, mode
            )
        return _propose_cell(binding, name, source, cell_type, mode)
    if not resolved.exists():
        if mode != "insert":
            raise ToolError(
                f"notebook {path!r} does not exist; use mode 'insert' to create it with a cell"
            )
        text, nb = _new_notebook(resolved)
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
        text, nb = _load_json(ctx.workspace, path, resolved)
    if int(nb.get("nbformat") or 0) != 4:
        raise ToolError(
            f"{name} is in nbformat {nb.get('nbformat')}; only format 4 notebooks can be edited "
            "(open and save it in Jupyter to upgrade it)"
        )
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ToolError(f"{name} has no cell list; it is not a valid notebook")
    layout = _detect_layout(text, nb)
    minor = int(nb.get("nbformat_minor") or 0)
    ids, made_up = _cell_ids(cells, minor)
    target = _find_target(cells, ids, mode, cell_id, index)
    if minor >= 5 and made_up:  # 4.5+ requires ids: store the ones shown by notebook_read
        for cell, cid in zip(cells, ids):
            if isinstance(cell, dict) and not cell.get("id"):
                cell["id"] = cid
    note = ""
    if mode == "insert":
        new = _new_cell(cell_type or "code", _source_value(source or "", layout), minor, set(ids))
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
        new_source = _source_value(source or "", layout)
        if cell_type and cell_type != old.get("cell_type"):
            cells[target.index] = _retype(old, cell_type, new_source)
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
    problem = _validate(nb)
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
    _remember(ctx, resolved)
    extra = ""
    if not layout.faithful and not created:
        extra = " (the file's JSON layout was not Jupyter's; it was rewritten in Jupyter's)"
    if minor >= 5 and made_up:
        extra += " (cells that had no id got the ids notebook_read showed)"
    return f"{what} in {name}.{note}{extra}"


# ---------------------------------------------------------------------------------------------
# The notebook the kernel runs in


def _propose_cell(
    binding: NotebookBinding, name: str, source: str | None, cell_type: str | None, mode: str
) -> str:
    reason = binding.mode().reason
    if mode != "insert":
        raise ToolError(
            f"{name} is the notebook this kernel runs in and is open in Jupyter, so its file "
            f"is not rewritten, and {mode} needs live mode (jupyter-collaboration; now: "
            f"{reason}). Insert a new cell instead, or tell the user what to change."
        )
    shell = binding.shell
    if shell is None:
        raise ToolError(
            f"{name} is the notebook a Jupyter kernel runs in (open in Jupyter), so its file is "
            "not rewritten; tell the user the cell to add instead"
        )
    if binding.propose is not None and threading.current_thread() is not threading.main_thread():
        told = binding.propose(source or "", cell_type or "code")
        if told is not None:
            return told
    if threading.current_thread() is not threading.main_thread():
        # set_next_input rides on the reply to the cell that is executing; from the background
        # run (widget mode) the %%claw cell has finished, so the cell would turn up below
        # whatever cell the user runs next.
        raise ToolError(
            f"{name} is open in Jupyter and this run is in the background, so no cell can be "
            "added to it now (only live mode, with jupyter-collaboration, can). Give the cell's "
            "code in your answer for the user to paste, or write it to another notebook."
        )
    ctype = cell_type or "code"
    if ctype == "raw":
        raise ToolError(
            f"{name} is open in Jupyter; only a code or markdown cell can be proposed below the "
            "running cell, not a raw one"
        )
    if _proposed_already(shell):
        raise ToolError(
            "a new cell has already been proposed below the running cell, and Jupyter shows only "
            "one per run; tell the user the rest in your answer"
        )
    text = source or ""
    if ctype == "markdown":
        text = "%%markdown\n" + text
    shell.set_next_input(text, replace=False)
    return (
        f"Proposed a new {ctype} cell below the running cell of {name} (the notebook this "
        "kernel runs in: its file is not rewritten behind Jupyter's back). It appears when the "
        "running cell finishes, unexecuted; the user decides whether to run it. Only one cell "
        "can be proposed per run"
        + (" (markdown is written as a %%markdown cell)" if ctype == "markdown" else "")
        + "; position arguments are ignored."
    )


def _proposed_already(shell: Any) -> bool:
    payload_manager = getattr(shell, "payload_manager", None)
    try:
        payloads = payload_manager.read_payload() if payload_manager is not None else []
    except Exception:  # noqa: BLE001
        payloads = []
    if any(isinstance(p, dict) and p.get("source") == "set_next_input" for p in payloads or []):
        return True
    # a plain (terminal) IPython keeps the text until its next prompt
    return bool(getattr(shell, "rl_next_input", None))


def _backup(ctx: ToolContext, resolved: Path, name: str, cells: list[dict]) -> Path:
    """Save every cell's id, type and source to `.claw/backups/<notebook>-<timestamp>.json`."""
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
    target = Path(ctx.workspace) / ".claw" / "backups" / f"{resolved.stem}-{stamp}.json"
    data = {
        "notebook": name,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cells": [
            {"id": c.get("id"), "cell_type": c.get("cell_type"), "source": _cell_source(c)}
            for c in cells
        ],
    }
    atomic_write(target, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8") + b"\n")
    return target


def _protected(cell: dict) -> str | None:
    if cell.get("execution_state") == "running":
        return "it is running"
    if _cell_source(cell).lstrip().startswith("%%claw"):
        return "it is a %%claw prompt cell"
    return None


def _edit_live(
    ctx: ToolContext,
    binding: NotebookBinding,
    room: str,
    resolved: Path,
    name: str,
    source: str | None,
    cell_id: str | None,
    index: int | None,
    cell_type: str | None,
    mode: str,
) -> str:
    if str(resolved) not in ctx.read_files:
        raise ToolError(
            f"read {name} with notebook_read before editing it, so you edit what is there"
        )

    def apply(doc) -> str:
        cells = doc.cells()
        ids = [str(c.get("id") or f"cell-{i}") for i, c in enumerate(cells)]
        target = _find_target(cells, ids, mode, cell_id, index)
        if mode != "insert":
            why = _protected(cells[target.index])
            if why:
                raise ToolError(
                    f"cell [{target.index}] id={ids[target.index]} is not edited by the agent: "
                    f"{why}"
                )
        backup = _backup(ctx, resolved, name, cells)
        backup_note = f" (backup of the cell sources: {display_path(ctx.workspace, backup)})"
        if mode == "insert":
            new_id = doc.insert(target.insert_at, cell_type or "code", source or "")
            return (
                f"Inserted {cell_type or 'code'} cell [{target.insert_at}] id={new_id} live "
                f"in {name}{backup_note}"
            )
        if mode == "replace":
            old = cells[target.index]
            doc.replace(target.index, source or "", cell_type)
            what = f"Replaced {old.get('cell_type')} cell [{target.index}] id={ids[target.index]}"
            if cell_type and cell_type != old.get("cell_type"):
                what += f" and made it {cell_type}"
            elif old.get("cell_type") == "code" and (
                old.get("outputs") or old.get("execution_count") is not None
            ):
                what += " (its outputs and execution count were cleared: they were stale)"
            return f"{what} live in {name}{backup_note}"
        doc.delete(target.index)
        kind = cells[target.index].get("cell_type")
        return (
            f"Deleted {kind} cell [{target.index}] id={ids[target.index]} live in "
            f"{name}{backup_note}"
        )

    return _live_call(binding, room, apply)


# ---------------------------------------------------------------------------------------------
# The tools


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
        _bind(notebook_read_impl, binding, "read", "notebook_read"),
        _bind(notebook_edit_impl, binding, "edit", "notebook_edit"),
    ]


# Not bound to a kernel (the CLI): the notebook named by JPY_SESSION_NAME is still protected.
notebook_read = _bind(notebook_read_impl, _UNBOUND, "read", "notebook_read")
notebook_edit = _bind(notebook_edit_impl, _UNBOUND, "edit", "notebook_edit")
