"""A notebook as the model reads it: numbered cells with ids, short output summaries."""

from __future__ import annotations

import base64
import json
from typing import Any

from claw_nb.textclip import clip_middle
from claw_nb.textsafe import strip_ansi

MAX_READ_CHARS = 100_000
MAX_CELL_SOURCE_CHARS = 20_000
MAX_TRACEBACK_CHARS = 8_000
MAX_TEXT_OUTPUT_LINES = 6
MAX_OUTPUT_LINE_CHARS = 200
DEFAULT_CELL_LIMIT = 200
CELL_TYPES = ("code", "markdown", "raw")


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def cell_ids(cells: list[dict], minor: int) -> tuple[list[str], bool]:
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
        text = cell_source({"source": output.get("text", "")})
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
            text = cell_source({"source": data["text/plain"]})
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
    source = clip_middle(cell_source(cell), MAX_CELL_SOURCE_CHARS)
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
