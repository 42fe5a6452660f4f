"""Finding files: list_files and grep, over the workspace minus .git/ and what .gitignore
ignores."""

from __future__ import annotations

import os
import time
from pathlib import Path

from claw_nb.tools.base import ToolContext, ToolError, tool
from claw_nb.tools.file_paths import missing_file_error, shown_path, workspace_root
from claw_nb.tools.fsutil import looks_binary
from claw_nb.tools.ignore import GitIgnore, GlobMatcher, walk_files
from claw_nb.tools.safe_io import open_regular
from claw_nb.tools.workspace import resolve_in_workspace

MAX_LIST_ENTRIES = 500
MAX_GREP_MATCHES = 200
MAX_GREP_LINE_CHARS = 500
MAX_GREP_FILE_BYTES = 20 * 1024 * 1024
GREP_SECONDS = 10.0  # a catastrophic pattern ends here instead of running for minutes


def _search_root(ctx: ToolContext, path: str) -> Path:
    resolved = resolve_in_workspace(ctx.workspace, path)
    if not resolved.exists():
        if resolved.is_symlink():
            raise ToolError(f"{path!r} is a dangling symlink")
        raise missing_file_error(ctx, path, resolved)
    return resolved


def _iter_candidates(ctx: ToolContext, root: Path, glob: str | None) -> list[Path]:
    """Files under ``root`` (or root itself if it is a file) matching ``glob``, sorted."""
    if root.is_file():
        return [root]
    matcher = GlobMatcher(glob) if glob else None
    files: list[Path] = []
    for p in walk_files(workspace_root(ctx), root, GitIgnore(workspace_root(ctx))):
        if matcher is not None and not matcher.matches(p.relative_to(root).as_posix()):
            continue
        files.append(p)
    return files


@tool("read")
def list_files(ctx: ToolContext, path: str = ".", pattern: str = "**/*") -> str:
    """List files under a directory, recursively, relative to the workspace; skips .git/
    and what .gitignore ignores.

    Args:
        path: Directory to list.
        pattern: Glob; without a '/' it matches file names at any depth ('*.py'), with one the
            path below `path` ('src/**/test_*.py').
    """
    root = _search_root(ctx, path)
    if root.is_file():
        return shown_path(ctx, root)
    files = sorted(shown_path(ctx, p) for p in _iter_candidates(ctx, root, pattern))
    if not files:
        return f"No files match {pattern!r} under {shown_path(ctx, root)}."
    out = files[:MAX_LIST_ENTRIES]
    if len(files) > MAX_LIST_ENTRIES:
        out.append(
            f"... {len(files) - MAX_LIST_ENTRIES} more (narrow the listing with path or pattern)"
        )
    return "\n".join(out)


@tool("read")
def grep(ctx: ToolContext, pattern: str, path: str = ".", glob: str | None = None) -> str:
    """Search file contents with a Python regular expression; returns `file:line: text` per
    match. Skips binary and ignored files.

    Args:
        pattern: Python regex, e.g. 'def \\w+_test' or '(?i)todo'.
        path: File or directory to search.
        glob: Only files matching this glob, e.g. '*.py'.
    """
    import regex  # the timeout-capable engine; only grep needs it (~15 ms to import)

    try:
        compiled = regex.compile(pattern)
    except regex.error as e:
        raise ToolError(f"invalid regular expression {pattern!r}: {e}") from e
    except TypeError as e:
        raise ToolError("pattern must be a string") from e
    deadline = time.monotonic() + GREP_SECONDS
    root = _search_root(ctx, path)
    ws = workspace_root(ctx)
    matches: list[str] = []
    total = 0
    for file in _iter_candidates(ctx, root, glob):
        try:
            real = Path(os.path.realpath(file))
            if not (real == ws or ws in real.parents) or not real.is_file():
                continue  # a symlink leading out of the workspace, or not a regular file
            if real.stat().st_size > MAX_GREP_FILE_BYTES:
                continue
            fd = open_regular(ws, real, shown_path(ctx, file))
            with open(fd, encoding="utf-8", errors="replace") as f:
                if looks_binary(f.buffer.peek(8192)[:8192]):
                    continue
                for lineno, line in enumerate(f, 1):
                    if _search(compiled, line, deadline, pattern):
                        total += 1
                        if total <= MAX_GREP_MATCHES:
                            text = line.rstrip("\r\n")
                            if len(text) > MAX_GREP_LINE_CHARS:
                                text = text[:MAX_GREP_LINE_CHARS] + " ..."
                            matches.append(f"{shown_path(ctx, file)}:{lineno}: {text}")
        except (OSError, ToolError) as exc:
            if isinstance(exc, ToolError) and "took longer" in str(exc):
                raise
            continue
    if not matches:
        return f"No matches for {pattern!r} in {shown_path(ctx, root)}."
    if total > MAX_GREP_MATCHES:
        matches.append(
            f"... {total - MAX_GREP_MATCHES} more matches not shown (narrow the search with "
            "path, glob or a more specific pattern)"
        )
    return "\n".join(matches)


def _search(compiled, line: str, deadline: float, pattern: str):
    """One line searched within what is left of grep's time budget."""
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            raise TimeoutError
        return compiled.search(line, timeout=left)
    except TimeoutError:
        raise ToolError(
            f"the pattern {pattern!r} took longer than {GREP_SECONDS:.0f} s (nested repeats such "
            "as (a+)+ backtrack without end); simplify it or narrow path/glob"
        ) from None
