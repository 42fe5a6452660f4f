"""File tools: read_file, write_file, edit_file, list_files, grep."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from claw_nb.tools.base import ToolContext, ToolError, tool
from claw_nb.tools.fsutil import atomic_write, count_lines, sniff_binary
from claw_nb.tools.ignore import GitIgnore, GlobMatcher, walk_files
from claw_nb.tools.workspace import display_path, resolve_in_workspace

MAX_LINE_CHARS = 2000
MAX_READ_CHARS = 200_000
MAX_LIST_ENTRIES = 500
MAX_GREP_MATCHES = 200
MAX_GREP_LINE_CHARS = 500
MAX_GREP_FILE_BYTES = 20 * 1024 * 1024
MAX_DIFF_LINES = 80


def _ws(ctx: ToolContext) -> Path:
    return Path(os.path.realpath(ctx.workspace))


def _rel(ctx: ToolContext, p: Path) -> str:
    return display_path(ctx.workspace, p)


def _missing_file_error(ctx: ToolContext, path: str, resolved: Path) -> ToolError:
    parent = resolved.parent
    msg = f"file {path!r} does not exist"
    if not parent.is_dir():
        return ToolError(
            f"{msg} (directory {_rel(ctx, parent)!r} does not exist either); "
            "use list_files to see what exists"
        )
    try:
        names = os.listdir(parent)
    except OSError:
        names = []
    close = difflib.get_close_matches(resolved.name, names, n=3, cutoff=0.5)
    if close:
        options = ", ".join(repr(_rel(ctx, parent / c)) for c in close)
        return ToolError(f"{msg}. Did you mean: {options}?")
    return ToolError(f"{msg}; use list_files to see what exists")


def _read_text(ctx: ToolContext, path: str, resolved: Path) -> str:
    """Whole file as text, with the same checks as read_file."""
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_files to see its contents")
    if not resolved.exists():
        raise _missing_file_error(ctx, path, resolved)
    try:
        if sniff_binary(resolved):
            raise ToolError(f"{path!r} is a binary file; only text files can be read or edited")
        data = resolved.read_bytes()
    except OSError as e:
        raise ToolError(f"cannot read {path!r}: {e.strerror or e}") from e
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
    """Read a text file from the workspace and return its lines numbered like `cat -n`; the
    numbers are not part of the file. Long files come in pages: the footer tells you the offset
    of the next page. Lines longer than 2000 characters are cut.

    Args:
        path: File path relative to the workspace, e.g. 'src/app.py'.
        offset: 1-based number of the first line to return.
        limit: Maximum number of lines to return.
    """
    if not isinstance(offset, int) or offset < 1:
        raise ToolError(f"offset must be a line number >= 1, got {offset!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a positive number of lines, got {limit!r}")
    resolved = resolve_in_workspace(ctx.workspace, path)
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_files to see its contents")
    if not resolved.exists():
        raise _missing_file_error(ctx, path, resolved)
    shown: list[str] = []
    total = 0
    chars = 0
    last_shown = offset - 1
    try:
        if sniff_binary(resolved):
            raise ToolError(f"{path!r} is a binary file; read_file only shows text files")
        with open(resolved, encoding="utf-8", errors="strict", newline=None) as f:
            for total, line in enumerate(f, 1):
                if total < offset or len(shown) >= limit or chars > MAX_READ_CHARS:
                    continue
                line = line.rstrip("\n")
                if len(line) > MAX_LINE_CHARS:
                    line = line[:MAX_LINE_CHARS] + f" ... [line cut at {MAX_LINE_CHARS} chars]"
                shown.append(f"{total:>6}\t{line}")
                chars += len(line) + 8
                last_shown = total
    except UnicodeDecodeError as e:
        raise ToolError(f"{path!r} is not valid UTF-8 text (looks binary); cannot show it") from e
    except OSError as e:
        raise ToolError(f"cannot read {path!r}: {e.strerror or e}") from e
    _remember(ctx, resolved)
    if total == 0:
        return f"({path} is empty)"
    if offset > total:
        raise ToolError(
            f"offset {offset} is past the end of {path!r}, which has {total} lines; "
            f"use an offset between 1 and {total}"
        )
    out = "\n".join(shown)
    if last_shown < total:
        out += (
            f"\n\n[Showing lines {offset}-{last_shown} of {total}. "
            f"Use offset={last_shown + 1} to read more.]"
        )
    return out


@tool("edit")
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create a file or overwrite it completely with `content`; missing parent directories are
    created. Prefer edit_file for changing part of an existing file.

    Args:
        path: File path relative to the workspace.
        content: The complete new content of the file.
    """
    if not isinstance(content, str):
        raise ToolError(f"content must be a string, got {type(content).__name__}")
    resolved = resolve_in_workspace(ctx.workspace, path)
    if resolved.is_dir():
        raise ToolError(f"{path!r} is a directory; give a file path")
    data = content.encode("utf-8")
    try:
        created = atomic_write(resolved, data)
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
        f"{_rel(ctx, resolved)} ({'created' if created else 'overwritten'})"
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
    """Replace an exact piece of text in a file. `old_string` must match the file exactly
    (including whitespace and indentation) and be unique unless replace_all is true; include a few
    surrounding lines to make it unique. An empty old_string creates a new file with new_string.
    Returns a diff of the change.

    Args:
        path: File path relative to the workspace.
        old_string: The exact text to replace (empty only to create a new file).
        new_string: The replacement text.
        replace_all: Replace every occurrence instead of requiring exactly one.
    """
    if not isinstance(old_string, str) or not isinstance(new_string, str):
        raise ToolError("old_string and new_string must be strings")
    if old_string == new_string:
        raise ToolError("old_string and new_string are identical; there is nothing to change")
    resolved = resolve_in_workspace(ctx.workspace, path)
    name = _rel(ctx, resolved)
    if old_string == "" and not resolved.exists() and not resolved.is_symlink():
        return write_file.func(ctx, path, new_string)
    content = _read_text(ctx, path, resolved)
    if old_string == "":
        if content:
            raise ToolError(
                f"old_string is empty but {path!r} already exists and is not empty; give the "
                "exact text to replace, or use write_file to overwrite the whole file"
            )
        updated, count = new_string, 1
    else:
        old, new = old_string, new_string
        count = content.count(old)
        if count == 0 and "\r\n" in content and "\r\n" not in old:
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
            count = content.count(old)
        if count == 0:
            raise ToolError(
                f"old_string was not found in {path!r}." + _not_found_hint(content, old)
            )
        if count > 1 and not replace_all:
            raise ToolError(
                f"old_string was found {count} times in {path!r}; add surrounding lines to make "
                "it unique or set replace_all=true"
            )
        updated = content.replace(old, new) if replace_all else content.replace(old, new, 1)
    try:
        atomic_write(resolved, updated.encode("utf-8"))
    except OSError as e:
        raise ToolError(f"cannot write {path!r}: {e.strerror or e}") from e
    _remember(ctx, resolved)
    head = f"Edited {name}" + (f" ({count} replacements)" if count > 1 else "")
    return head + "\n" + _short_diff(content, updated, name)


def _search_root(ctx: ToolContext, path: str) -> Path:
    resolved = resolve_in_workspace(ctx.workspace, path)
    if not resolved.exists():
        if resolved.is_symlink():
            raise ToolError(f"{path!r} is a dangling symlink")
        raise _missing_file_error(ctx, path, resolved)
    return resolved


def _iter_candidates(ctx: ToolContext, root: Path, glob: str | None) -> list[Path]:
    """Files under ``root`` (or root itself if it is a file) matching ``glob``, sorted."""
    if root.is_file():
        return [root]
    matcher = GlobMatcher(glob) if glob else None
    files: list[Path] = []
    for p in walk_files(_ws(ctx), root, GitIgnore(_ws(ctx))):
        if matcher is not None and not matcher.matches(p.relative_to(root).as_posix()):
            continue
        files.append(p)
    return files


@tool("read")
def list_files(ctx: ToolContext, path: str = ".", pattern: str = "**/*") -> str:
    """List files under a directory of the workspace, recursively, as paths relative to the
    workspace. Files ignored by .gitignore and the .git/ directory are skipped.

    Args:
        path: Directory to list, relative to the workspace.
        pattern: Glob the files must match, relative to `path`. Without a '/', it matches file
            names at any depth ('*.py'); with one, the whole path ('src/**/test_*.py').
    """
    root = _search_root(ctx, path)
    if root.is_file():
        return _rel(ctx, root)
    files = sorted(_rel(ctx, p) for p in _iter_candidates(ctx, root, pattern))
    if not files:
        return f"No files match {pattern!r} under {_rel(ctx, root)}."
    out = files[:MAX_LIST_ENTRIES]
    if len(files) > MAX_LIST_ENTRIES:
        out.append(
            f"... {len(files) - MAX_LIST_ENTRIES} more (narrow the listing with path or pattern)"
        )
    return "\n".join(out)


@tool("read")
def grep(ctx: ToolContext, pattern: str, path: str = ".", glob: str | None = None) -> str:
    """Search file contents with a Python regular expression; returns `file:line: text` for each
    matching line. Skips binary files and what .gitignore ignores.

    Args:
        pattern: Python regular expression, e.g. 'def \\w+_test' or '(?i)todo'.
        path: File or directory to search, relative to the workspace.
        glob: Only search files matching this glob, e.g. '*.py' (any depth) or 'src/**/*.ts'.
    """
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ToolError(f"invalid regular expression {pattern!r}: {e}") from e
    except TypeError as e:
        raise ToolError("pattern must be a string") from e
    root = _search_root(ctx, path)
    ws = _ws(ctx)
    matches: list[str] = []
    total = 0
    for file in _iter_candidates(ctx, root, glob):
        try:
            real = Path(os.path.realpath(file))
            if not (real == ws or ws in real.parents) or not real.is_file():
                continue  # a symlink leading out of the workspace, or not a regular file
            if real.stat().st_size > MAX_GREP_FILE_BYTES or sniff_binary(real):
                continue
            with open(real, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    if regex.search(line):
                        total += 1
                        if total <= MAX_GREP_MATCHES:
                            text = line.rstrip("\r\n")
                            if len(text) > MAX_GREP_LINE_CHARS:
                                text = text[:MAX_GREP_LINE_CHARS] + " ..."
                            matches.append(f"{_rel(ctx, file)}:{lineno}: {text}")
        except OSError:
            continue
    if not matches:
        return f"No matches for {pattern!r} in {_rel(ctx, root)}."
    if total > MAX_GREP_MATCHES:
        matches.append(
            f"... {total - MAX_GREP_MATCHES} more matches not shown (narrow the search with "
            "path, glob or a more specific pattern)"
        )
    return "\n".join(matches)
