"""The DuckDB log's public names in one place (kept for code that imports them from here).

The log lives in small modules: `schema` (one column spec per table, migrations), `database`
(opening, locking, :class:`StoreBusy`), `ingest` (journal lines to rows), `event_log` (the
agent's listener) and `queries` (reading). Importing this module loads neither DuckDB nor
pandas; they load on first use.
"""

from __future__ import annotations

from claw_nb.log.database import (
    DEFAULT_TIMEOUT,
    END_OF_SESSION_TIMEOUT,
    StoreBusy,
    default_db_path,
    resolve_db_path,
)
from claw_nb.log.event_log import EventLog
from claw_nb.log.ingest import ingest
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.queries import (
    SUMMARY_SQL,
    connect,
    list_sessions,
    load_messages,
    session_summary,
)
from claw_nb.log.rows import (
    COMPACTION_COLUMNS,
    LLM_CALL_COLUMNS,
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    TOOL_CALL_COLUMNS,
)
from claw_nb.log.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version

__all__ = [
    "COMPACTION_COLUMNS",
    "DEFAULT_TIMEOUT",
    "END_OF_SESSION_TIMEOUT",
    "LLM_CALL_COLUMNS",
    "MESSAGE_COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SESSION_COLUMNS",
    "SUMMARY_SQL",
    "TOOL_CALL_COLUMNS",
    "EventLog",
    "StoreBusy",
    "connect",
    "default_db_path",
    "ingest",
    "journal_dir",
    "list_sessions",
    "load_messages",
    "migrate",
    "resolve_db_path",
    "schema_version",
    "session_summary",
]
