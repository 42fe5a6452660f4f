"""Big tool outputs: cut to a budget with a handle, kept in full, paged with `read_output`.

A tool output that does not fit its budget goes to the model as its head and tail plus a note:
"full output: handle out-3; use read_output". The full text stays in memory for the session and
is also saved under `<workspace>/.claw/outputs/<session>/out-3.txt`, so a resumed session can
still page through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from claw_nb.tools.base import Tool, ToolContext, ToolError, derive_tool
from claw_nb.tools.safe_io import write_atomic
from claw_nb.untrusted import read_untrusted_text

HANDLE_RE = re.compile(r"\bhandle (out-\d+)\b")
MAX_LINE_CHARS = 2000
MAX_SAVED_BYTES = 64 << 20  # a saved output read back is never larger than this


class OutputStore:
    """Full texts of cut tool outputs, by handle ("out-1", "out-2", ...)."""

    def __init__(
        self,
        directory: Callable[[], Path | None] | Path | None = None,
        root: Callable[[], Path | None] | Path | None = None,
    ) -> None:
        self._directory = directory
        self._root = root  # the folder saved outputs must stay in (the workspace); else directory
        self._texts: dict[str, str] = {}
        self._origins: dict[str, str] = {}
        self._count = 0
        self.page_chars = 20_000

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, handle: object) -> bool:
        return handle in self._texts

    def handles(self) -> list[str]:
        return list(self._texts)

    def origin(self, handle: str) -> str:
        return self._origins.get(handle, "")

    def put(self, text: str, origin: str = "") -> str:
        self._count += 1
        handle = f"out-{self._count}"
        self._texts[handle] = text
        self._origins[handle] = origin
        place = self._place(handle)
        if place is not None:
            root, path = place
            try:  # no-follow from the root: a planted link cannot aim this write elsewhere
                write_atomic(root, path, text.encode("utf-8"))
            except (OSError, ToolError):
                pass  # memory still has it
        return handle

    def get(self, handle: str) -> str | None:
        handle = handle.strip()
        text = self._texts.get(handle)
        if text is None and re.fullmatch(r"out-\d+", handle):
            place = self._place(handle)
            if place is not None:
                root, path = place
                try:
                    text = read_untrusted_text(
                        root, path.relative_to(root), max_bytes=MAX_SAVED_BYTES
                    )
                except (OSError, ValueError):
                    text = None
                if text is not None:
                    self._texts[handle] = text
        return text

    def _place(self, handle: str) -> tuple[Path, Path] | None:
        """(root, file) where `handle` is saved: the file lexically inside the root."""
        directory = self._directory() if callable(self._directory) else self._directory
        if directory is None:
            return None
        root = self._root() if callable(self._root) else self._root
        base = Path(os.path.realpath(root if root is not None else directory))
        folder = Path(os.path.abspath(directory))
        if root is not None:
            lexical_root = Path(os.path.abspath(root))
            if not folder.is_relative_to(lexical_root):
                return None
            folder = base / folder.relative_to(lexical_root)
        else:
            folder = base
        return base, folder / f"{handle}.txt"


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def clip_with_handle(text: str, limit: int, handle: str, origin: str = "") -> str:
    """Head and tail of `text` within about `limit` characters, cut at line ends, with a note
    naming the handle of the full text and the lines left out."""
    total_lines = text.count("\n") + 1
    note_room = 320
    keep = max(200, limit - note_room)
    head_end = keep * 3 // 5
    tail_start = len(text) - (keep - head_end)
    newline = text.rfind("\n", head_end * 3 // 4, head_end)
    head_end = newline + 1 if newline >= 0 else head_end
    newline = text.find("\n", tail_start, tail_start + (len(text) - tail_start) // 4)
    tail_start = newline + 1 if newline >= 0 else tail_start
    first_omitted = _line_at(text, head_end) if head_end else 1
    last_omitted = _line_at(text, tail_start - 1) if tail_start > 0 else 1
    what = f" of {origin}" if origin else ""
    middle = (
        f"\n... [output{what} cut: lines {first_omitted}-{last_omitted} of {total_lines} "
        f"({tail_start - head_end} characters) left out] ...\n"
    )
    footer = (
        f"\n[full output: handle {handle} ({total_lines} lines, {len(text)} characters); "
        f'use read_output(handle="{handle}", offset={first_omitted}) to read the part left out]'
    )
    return text[:head_end] + middle + text[tail_start:] + footer


def make_read_output_tool(store: OutputStore) -> Tool:
    """The `read_output` tool, bound to `store`."""

    def read_output(
        ctx: ToolContext, handle: str, offset: int = 1, limit: int = 200, grep: str | None = None
    ) -> str:
        """Page through the full text of a tool output that was cut short; the cut output names
        its handle (e.g. 'out-3'). Lines come numbered; the footer gives the next offset.

        Args:
            handle: The handle named in the cut output, e.g. 'out-3'.
            offset: 1-based number of the first line to return.
            limit: Maximum number of lines to return.
            grep: Only return lines containing this text (case-insensitive).
        """
        text = store.get(handle)
        if text is None:
            known = ", ".join(store.handles()[-10:]) or "none yet"
            raise ToolError(f"there is no saved output {handle!r}; saved outputs: {known}")
        if not isinstance(offset, int) or offset < 1:
            raise ToolError(f"offset must be a line number >= 1, got {offset!r}")
        if not isinstance(limit, int) or limit < 1:
            raise ToolError(f"limit must be a positive number of lines, got {limit!r}")
        lines = text.splitlines()
        numbered = list(enumerate(lines, 1))
        if grep:
            needle = grep.lower()
            numbered = [(n, line) for n, line in numbered if needle in line.lower()]
            if not numbered:
                return f"[{handle}: no line contains {grep!r}; it has {len(lines)} lines]"
        else:
            if offset > max(1, len(lines)):
                raise ToolError(
                    f"offset {offset} is past the end of {handle}, which has {len(lines)} lines"
                )
        page = [(n, line) for n, line in numbered if n >= offset][:limit]
        shown, chars = [], 0
        for n, line in page:
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + f" ... [line cut at {MAX_LINE_CHARS} chars]"
            if shown and chars + len(line) > store.page_chars:
                break
            shown.append(f"{n:>6}\t{line}")
            chars += len(line) + 8
        if not shown:
            return f"[{handle}: nothing from line {offset} on]"
        last = int(shown[-1].split("\t", 1)[0])
        more = any(n > last for n, _ in numbered)
        footer = f"[{handle}: showing up to line {last} of {len(lines)}"
        footer += f"; use offset={last + 1} for more]" if more else "; end of output]"
        return "\n".join(shown) + "\n\n" + footer

    return derive_tool(read_output, "read")
