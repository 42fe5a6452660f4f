"""Questions about the log, answered as pandas DataFrames.

Where do the tokens go, how does the context grow, which tools fail, how much time is the model
versus the tools, and how do models and system-prompt variants compare.

Every function takes ``db``: a database path (default: ``CLAW_DB``, else
``.claw/claw.duckdb`` under the current directory) or an open connection from
``claw_nb.connect()``. Opening by path ingests pending journals first; a missing log raises
:class:`FileNotFoundError`. Most functions also filter:

- ``session_id``: one session id, or a list of them;
- ``since``: only sessions started at or after this time (a ``datetime``, ``date``, ISO
  string or ``pandas.Timestamp``; naive times are UTC, as in the log), or within the last
  ``timedelta``.

Raw SQL stays open: :func:`query`, or ``claw_nb.connect()`` for a DuckDB connection.
"""

from __future__ import annotations

from claw_nb.log.analysis.context_growth import (
    PARTS,
    compactions,
    token_split,
    tokens_by_part,
    tokens_per_step,
)
from claw_nb.log.analysis.parquet_export import export_parquet
from claw_nb.log.analysis.per_session import (
    SESSION_COLUMNS_SHORT,
    compare,
    session_log,
    sessions,
    time_split,
)
from claw_nb.log.analysis.sql import query
from claw_nb.log.analysis.tool_outcomes import ERROR_KINDS, tool_errors

__all__ = [
    "ERROR_KINDS",
    "PARTS",
    "SESSION_COLUMNS_SHORT",
    "compactions",
    "compare",
    "export_parquet",
    "query",
    "session_log",
    "sessions",
    "time_split",
    "token_split",
    "tokens_by_part",
    "tokens_per_step",
    "tool_errors",
]
