"""`read_file` through the ACP client, so the agent sees what the user sees in the editor.

When the client offers `fs/read_text_file`, a file the user has open comes with its unsaved
changes. The tool is the ordinary `read_file` first (the workspace confinement, the checks for
directories, binaries and missing files, the page format); then the client's text replaces the
disk's when they differ, and the model is told that edits apply to the file on disk. Anything
the client cannot answer falls back to the disk. Writes and commands never go through the
client: they stay in claw's workspace and sandbox.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from claw_nb.acp.tool_views import workspace_text
from claw_nb.tools.base import Tool, ToolContext
from claw_nb.tools.files import MAX_EDIT_BYTES, read_file, read_text_page
from claw_nb.tools.workspace import resolve_in_workspace

logger = logging.getLogger(__name__)

ReadFromClient = Callable[[Path], str | None]  # the editor's text of a resolved path, or None

UNSAVED_NOTE = (
    "\n\n[Shown from the editor, which has unsaved changes: the file on disk differs. "
    "edit_file and write_file change the file on disk.]"
)


def client_read_file(read_from_client: ReadFromClient) -> Tool:
    """A `read_file` tool (same name, schema and kind) that asks the client for the text."""

    def run(ctx: ToolContext, path: str, offset: int = 1, limit: int = 2000) -> str:
        from_disk = read_file.func(ctx, path, offset, limit)  # checks, and the fallback
        resolved = resolve_in_workspace(ctx.workspace, path)
        try:
            editor = read_from_client(resolved)
        except (OSError, ConnectionError, TimeoutError, concurrent.futures.CancelledError):
            editor = None
        except Exception:  # noqa: BLE001 - the client's error: the disk's text is still right
            logger.debug("claw_nb acp: the client could not read %s", resolved, exc_info=True)
            editor = None
        disk = _disk_text(Path(ctx.workspace), resolved)
        if editor is None or disk is None or _same(editor, disk):
            return from_disk
        return read_text_page(editor, path, offset, limit) + UNSAVED_NOTE

    return replace(read_file, func=run)


def _same(a: str, b: str) -> bool:
    """Equal but for line endings (an editor may hand CRLF files over with LF)."""
    return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


def _disk_text(workspace: Path, resolved: Path) -> str | None:
    text = workspace_text(workspace, resolved, MAX_EDIT_BYTES)
    return text if isinstance(text, str) else None
