"""File tools that read and change one file: read_file, write_file, edit_file."""

from __future__ import annotations

import dataclasses
import difflib
import io
import os
import re
from pathlib import Path
from typing import BinaryIO

from claw_nb.protected_paths import lexical_path, protection_reason
from claw_nb.tools.base import ToolContext, ToolError, tool
from claw_nb.tools.file_paths import missing_file_error, shown_path, workspace_root
from claw_nb.tools.fsutil import count_lines, looks_binary
from claw_nb.tools.safe_io import open_regular, read_prefix, write_atomic
from claw_nb.tools.workspace import resolve_in_workspace

MAX_LINE_CHARS = 2000
MAX_READ_CHARS = 200_000
MAX_DIFF_LINES = 80
MAX_EDIT_BYTES = 10 * 1024 * 1024  # edit_file reads the whole file: bound it
MAX_SCAN_BYTES = 32 * 1024 * 1024  # read_file counts lines past its page up to this much


def _read_text(ctx: ToolContext, path: str, resolved: Path) -> str:
    """Whole file as text (bounded), with the same checks as read_file."""
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_files to see its contents")
    if not resolved.exists():
        raise missing_file_error(ctx, path, resolved)
    try:
        data, size = read_prefix(workspace_root(ctx), resolved, path, MAX_EDIT_BYTES + 1)
    except OSError as e:
        raise ToolError(f"cannot read {path!r}: {e.strerror or e}") from e
    if size > MAX_EDIT_BYTES or len(data) > MAX_EDIT_BYTES:
        raise ToolError(
            f"{path!r} is {size} bytes, over the {MAX_EDIT_BYTES} bytes edit_file "
            "handles; change it with a command instead"
        )
    if looks_binary(data):
        raise ToolError(f"{path!r} is a binary file; only text files can be read or edited")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ToolError(
            f"{path!r} is not valid UTF-8 text (looks binary); only text files can be read or edited"
        ) from e


def _remember(ctx: ToolContext, resolved: Path) -> None:
    try:
        ctx.read_files[str(resolved)] = resolved.stat().st_mtime
    except OSError:
        pass


@tool("read")
def read_file(ctx: ToolContext, path: str, offset: int = 1, limit: int = 2000) -> str:
    """Read a text file; its lines come numbered like `cat -n` (the numbers are not part of
    the file). Long files come in pages: the footer gives the next offset.

    Args:
        path: Path relative to the workspace, e.g. 'src/app.py'.
        offset: First line to return (1-based).
        limit: Maximum lines to return.
    """
    if not isinstance(offset, int) or offset < 1:
        raise ToolError(f"offset must be a line number >= 1, got {offset!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a positive number of lines, got {limit!r}")
    resolved = resolve_in_workspace(ctx.workspace, path)
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_files to see its contents")
    if not resolved.exists():
        raise missing_file_error(ctx, path, resolved)
    try:
        shown, total, last_shown, complete = _read_page(
            workspace_root(ctx), resolved, path, offset, limit
        )
    except OSError as e:
        raise ToolError(f"cannot read {path!r}: {e.strerror or e}") from e
    _remember(ctx, resolved)
    return _render_page(path, offset, shown, total, last_shown, complete)


def read_text_page(text: str, path: str, offset: int = 1, limit: int = 2000) -> str:
    """`text` as read_file shows a file with that content: for text that is not on disk (an
    editor's unsaved buffer, which an ACP client hands over), so the model sees one format."""
    page = _page_of(io.BytesIO(text.encode("utf-8")), path, offset, limit)
    return _render_page(path, offset, *page)


def _render_page(
    path: str, offset: int, shown: list[str], total: int, last_shown: int, complete: bool
) -> str:
    if total == 0:
        return f"({path} is empty)"
    if offset > total:
        raise ToolError(
            f"offset {offset} is past the end of {path!r}, which has {total} lines; "
            f"use an offset between 1 and {total}"
        )
    out = "\n".join(shown)
    if last_shown < total or not complete:
        of = f"{total}" if complete else f"at least {total} (a large file)"
        out += (
            f"\n\n[Showing lines {offset}-{last_shown} of {of}. "
            f"Use offset={last_shown + 1} to read more.]"
        )
    return out


def _read_page(
    ws: Path, resolved: Path, path: str, offset: int, limit: int
) -> tuple[list[str], int, int, bool]:
    with os.fdopen(open_regular(ws, resolved, path), "rb") as f:
        return _page_of(f, path, offset, limit)


def _page_of(f: BinaryIO, path: str, offset: int, limit: int) -> tuple[list[str], int, int, bool]:
    """(numbered lines of the page, lines counted, last line shown, whether the count is the
    whole file). Memory stays bounded by the page: long lines are cut while reading, and lines
    past the page are only counted, up to MAX_SCAN_BYTES."""
    shown: list[str] = []
    total = chars = scanned = 0
    last_shown = offset - 1
    line_cap = MAX_LINE_CHARS * 4  # bytes: a UTF-8 character takes at most four
    head = f.read(8192)
    if looks_binary(head):
        raise ToolError(f"{path!r} is a binary file; read_file only shows text files")
    f.seek(0)
    while True:
        if len(shown) >= limit or chars > MAX_READ_CHARS:
            while scanned < MAX_SCAN_BYTES:  # only count what follows the page
                block = f.read(1 << 20)
                if not block:
                    return shown, total, last_shown, True
                scanned += len(block)
                total += block.count(b"\n")
            return shown, total + 1, last_shown, False
        raw = f.readline(line_cap)
        if not raw:
            return shown, total, last_shown, True
        scanned += len(raw)
        cut = len(raw) >= line_cap and not raw.endswith(b"\n")
        while cut:  # the rest of an over-long line: skip it without keeping it
            rest = f.readline(1 << 20)
            scanned += len(rest)
            if not rest or rest.endswith(b"\n"):
                break
        total += 1
        if total < offset:
            continue
        try:
            line = raw.decode("utf-8", errors="ignore" if cut else "strict").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise ToolError(
                f"{path!r} is not valid UTF-8 text (looks binary); cannot show it"
            ) from e
        if cut or len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" ... [line cut at {MAX_LINE_CHARS} chars]"
        shown.append(f"{total:>6}\t{line}")
        chars += len(line) + 8
        last_shown = total


@tool("edit")
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create a file, or overwrite all of it (parent directories are created). To change
    part of a file, use edit_file.

    Args:
        path: Path relative to the workspace.
        content: The complete new content.
    """
    if not isinstance(content, str):
        raise ToolError(f"content must be a string, got {type(content).__name__}")
    resolved = _write_target(ctx, path)
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; give a file path")
    data = content.encode("utf-8")
    try:
        created = write_atomic(workspace_root(ctx), resolved, data)
    except (FileExistsError, NotADirectoryError) as e:
        raise ToolError(
            f"cannot write {path!r}: a parent of it exists as a file ({e.strerror}); "
            "choose another path"
        ) from e
    except OSError as e:
        raise ToolError(f"cannot write {path!r}: {e.strerror or e}") from e
    _remember(ctx, resolved)
    lines = count_lines(content)
    return (
        f"Wrote {lines} line{'s' if lines != 1 else ''} ({len(data)} bytes) to "
        f"{shown_path(ctx, resolved)} ({'created' if created else 'overwritten'})"
    )


def _not_found_hint(content: str, old: str) -> str:
    """Explain why ``old`` was not found: whitespace-only differences or the closest lines."""

    def squash(s: str) -> str:
        return re.sub(r"\s+", " ", s).strip()

    if squash(old) and squash(old) in squash(content):
        return (
            " The text exists but with different whitespace or indentation; copy it exactly "
            "as read_file shows it (without the line-number prefix)."
        )
    file_lines = content.splitlines()
    old_lines = [ln for ln in old.splitlines() if ln.strip()]
    if not old_lines or not file_lines:
        return ""
    stripped = [ln.strip() for ln in file_lines]
    close = difflib.get_close_matches(old_lines[0].strip(), stripped, n=3, cutoff=0.5)
    if not close:
        return " Use read_file to see the current content."
    found: list[str] = []
    for c in close:
        for i, s in enumerate(stripped):
            if s == c:
                found.append(f"{i + 1:>6}\t{file_lines[i]}")
                break
    return (
        " Closest line(s) in the file:\n"
        + "\n".join(found)
        + "\nCheck whitespace/indentation and copy the text exactly."
    )


def _short_diff(before: str, after: str, name: str) -> str:
    diff = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"a/{name}", f"b/{name}", n=2, lineterm=""
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        more = len(diff) - MAX_DIFF_LINES
        diff = diff[:MAX_DIFF_LINES] + [f"... [{more} more diff lines]"]
    return "\n".join(line[:MAX_LINE_CHARS] for line in diff)


@tool("edit")
def edit_file(
    ctx: ToolContext, path: str, old_string: str, new_string: str, replace_all: bool = False
) -> str:
    """Replace an exact piece of text in a file and return the diff. `old_string` must match
    exactly, whitespace included, and be unique (add surrounding lines) unless replace_all is
    true. An empty old_string creates a new file.

    Args:
        path: Path relative to the workspace.
        old_string: The exact text to replace (empty only to create a file).
        new_string: The replacement text.
        replace_all: Replace every occurrence.
    """
    if not isinstance(old_string, str) or not isinstance(new_string, str):
        raise ToolError("old_string and new_string must be strings")
    if old_string == new_string:
        raise ToolError("old_string and new_string are identical; there is nothing to change")
    resolved = _write_target(ctx, path)
    name = shown_path(ctx, resolved)
    if old_string == "" and not resolved.exists() and not resolved.is_symlink():
        return write_file.func(ctx, path, new_string)
    content = _read_text(ctx, path, resolved)
    updated, count = _replace(content, path, old_string, new_string, replace_all)
    try:
        write_atomic(workspace_root(ctx), resolved, updated.encode("utf-8"))
    except OSError as e:
        raise ToolError(f"cannot write {path!r}: {e.strerror or e}") from e
    _remember(ctx, resolved)
    head = f"Edited {name}" + (f" ({count} replacements)" if count > 1 else "")
    return head + "\n" + _short_diff(content, updated, name)


def _replace(
    content: str, path: str, old: str, new: str, replace_all: bool, hint: bool = True
) -> tuple[str, int]:
    """(the new content, how many replacements), or the ToolError the model gets; `hint`
    quotes the file's closest lines (not before a person has allowed the call)."""
    if old == "":
        if content:
            raise ToolError(
                f"old_string is empty but {path!r} already exists and is not empty; give the "
                "exact text to replace, or use write_file to overwrite the whole file"
            )
        return new, 1
    count = content.count(old)
    if count == 0 and "\r\n" in content and "\r\n" not in old:
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = content.count(old)
    if count == 0:
        why = _not_found_hint(content, old) if hint else " Read the file again and copy the text."
        raise ToolError(f"old_string was not found in {path!r}." + why)
    if count > 1 and not replace_all:
        raise ToolError(
            f"old_string was found {count} times in {path!r}; add surrounding lines to make "
            "it unique or set replace_all=true"
        )
    return (content.replace(old, new) if replace_all else content.replace(old, new, 1)), count


def _check_edit(ctx: ToolContext, arguments: dict) -> None:
    """edit_file's call before anyone is asked: a ToolError if it cannot succeed (the file is
    missing, the text is not in it or not unique), so nobody approves an edit that fails."""
    path, old, new = (arguments.get(k) for k in ("path", "old_string", "new_string"))
    if not all(isinstance(v, str) for v in (path, old, new)) or old == "":
        return  # the tool says what is wrong; an empty old_string creates a file
    if old == new:
        raise ToolError("old_string and new_string are identical; there is nothing to change")
    resolved = _write_target(ctx, path)
    content = _read_text(ctx, path, resolved)
    _replace(content, path, old, new, bool(arguments.get("replace_all")), hint=False)


edit_file = dataclasses.replace(edit_file, check=_check_edit)


def _write_target(ctx: ToolContext, path: str) -> Path:
    """Where a write to `path` lands. A protected file (settings, git metadata) may be written
    only under its own name, which the permission policy saw, never through a symlink."""
    globbed = [part for part in Path(path).parts if "*" in part] if isinstance(path, str) else []
    if globbed and not os.path.lexists(lexical_path(workspace_root(ctx), path)):
        raise ToolError(
            f"{path!r} has a wildcard ({globbed[0]!r}): writes take one literal path, e.g. "
            "'src/app.py'; use list_files or grep to find the file first"
        )
    resolved = resolve_in_workspace(ctx.workspace, path)
    if (
        resolved != lexical_path(workspace_root(ctx), path)
        and (why := protection_reason(workspace_root(ctx), str(resolved))) is not None
    ):
        raise ToolError(
            f"{path!r} leads through a symlink to {shown_path(ctx, resolved)}, and {why}; "
            "write protected files by their own path"
        )
    return resolved
