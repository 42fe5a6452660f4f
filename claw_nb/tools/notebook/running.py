"""The notebook the kernel runs in: never rewritten on disk; a proposed cell, or a live edit."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import BACKUPS_DIR
from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.notebook.binding import NotebookBinding, live_call
from claw_nb.tools.notebook.cells import find_target
from claw_nb.tools.notebook.render import cell_source
from claw_nb.tools.safe_io import write_atomic
from claw_nb.tools.workspace import display_path


def propose_cell(
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


def _backup_cells(ctx: ToolContext, resolved: Path, name: str, cells: list[dict]) -> Path:
    """Save every cell's id, type and source to `.claw/backups/<notebook>-<timestamp>.json`."""
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
    workspace = Path(os.path.realpath(ctx.workspace))
    target = workspace / BACKUPS_DIR / f"{resolved.stem}-{stamp}.json"
    data = {
        "notebook": name,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cells": [
            {"id": c.get("id"), "cell_type": c.get("cell_type"), "source": cell_source(c)}
            for c in cells
        ],
    }
    payload = json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
    write_atomic(workspace, target, payload)  # a link planted at `.claw/backups` is not followed
    return target


def _protected_reason(cell: dict) -> str | None:
    if cell.get("execution_state") == "running":
        return "it is running"
    if cell_source(cell).lstrip().startswith("%%claw"):
        return "it is a %%claw prompt cell"
    return None


def edit_live(
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
        target = find_target(cells, ids, mode, cell_id, index)
        if mode != "insert":
            why = _protected_reason(cells[target.index])
            if why:
                raise ToolError(
                    f"cell [{target.index}] id={ids[target.index]} is not edited by the agent: "
                    f"{why}"
                )
        backup = _backup_cells(ctx, resolved, name, cells)
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

    return live_call(binding, room, apply)
