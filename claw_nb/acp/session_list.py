"""`session/list`: the sessions of the DuckDB log, newest first, as ACP session infos.

Every logged session can be loaded (`session/load`), whichever shell ran it: a `%%claw` cell,
`claw-nb run`, an earlier ACP client. The title is the first line of the session's first task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acp.schema import ListSessionsResponse, SessionInfo

from claw_nb.acp.tool_views import ClientPaths

PAGE_SIZE = 50
MAX_TITLE_CHARS = 80


def list_logged_sessions(
    db_path: Path, paths: ClientPaths, *, only_here: bool, cursor: str | None
) -> ListSessionsResponse:
    """A page of the log's sessions; `only_here`: those of this workspace only."""
    from claw_nb.log.store import list_sessions

    frame = list_sessions(db_path)
    rows = frame.to_dict("records") if len(frame) else []
    here = str(paths.workspace)
    if only_here:
        rows = [row for row in rows if row.get("workspace") == here]
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page = rows[start : start + PAGE_SIZE]
    following = start + PAGE_SIZE
    return ListSessionsResponse(
        sessions=[_info(row, paths) for row in page],
        next_cursor=str(following) if following < len(rows) else None,
    )


def _info(row: dict[str, Any], paths: ClientPaths) -> SessionInfo:
    workspace = str(row.get("workspace") or "")
    cwd = str(paths.client_root) if workspace == str(paths.workspace) else workspace
    task = str(row.get("task") or "").strip()
    first_line = task.splitlines()[0] if task else ""
    return SessionInfo(
        session_id=str(row["session_id"]),
        cwd=cwd or str(paths.client_root),
        title=first_line[:MAX_TITLE_CHARS] or None,
        updated_at=_iso(row.get("ended_at")) or _iso(row.get("started_at")),
    )


def _iso(value: Any) -> str | None:
    import pandas as pd

    if value is None or pd.isna(value):  # a running session has no end time (NaT)
        return None
    return pd.Timestamp(value).isoformat()
