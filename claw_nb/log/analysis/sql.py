"""How every analysis reaches the log: its connection, the common filters as SQL, `query`.

``db`` is a path (default: ``CLAW_DB``, else ``.claw/claw.duckdb``) or an open connection;
``session_id`` one id or a list; ``since`` a time or a ``timedelta`` back from now.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas

Db = Any  # a path, None (the default database) or a duckdb connection
SessionIds = Any  # a session id, a list of them, or None (every session)
Since = Any  # datetime, date, str, pandas.Timestamp, timedelta or None


@contextlib.contextmanager
def connection(db: Db) -> Iterator[Any]:
    """``db`` itself if it is a connection; else the log at that path, closed afterwards."""
    if db is not None and hasattr(db, "execute") and not isinstance(db, (str, os.PathLike)):
        yield db
        return
    from claw_nb.log.database import DEFAULT_TIMEOUT, resolve_db_path
    from claw_nb.log.queries import reading

    with reading(db, DEFAULT_TIMEOUT) as con:
        if con is None:
            raise FileNotFoundError(f"no claw_nb log at {resolve_db_path(db)}; run a task first")
        yield con


def _since(value: Since) -> datetime | None:
    """``since`` as a naive UTC datetime (the log's timestamps are naive UTC)."""
    if value is None:
        return None
    import pandas as pd

    if isinstance(value, (timedelta, pd.Timedelta)):
        now = datetime.now(UTC).replace(tzinfo=None)
        return now - pd.Timedelta(value).to_pytimedelta()
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def session_filter(
    session_id: SessionIds, since: Since, column: str = "session_id"
) -> tuple[str, list[Any]]:
    """(``AND ...`` conditions on ``column``, their parameters) for the common filters."""
    sql, params = "", []
    if session_id is not None:
        ids = [session_id] if isinstance(session_id, str) else [str(s) for s in session_id]
        sql += f" AND {column} IN (SELECT unnest(?::VARCHAR[]))"
        params.append(ids)
    start = _since(since)
    if start is not None:
        sql += f" AND {column} IN (SELECT session_id FROM sessions WHERE started_at >= ?)"
        params.append(start)
    return sql, params


def query(sql: str, db: Db = None, params: list[Any] | None = None) -> pandas.DataFrame:
    """Any SQL over the log, as a DataFrame."""
    with connection(db) as con:
        return con.execute(sql, params or []).df()
