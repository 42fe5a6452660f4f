"""The DuckDB log's schema: one column spec per table, and the forward-only migrations.

Every table is declared once: the log's own in :data:`TABLES`, the lab's in
`claw_nb.lab.store` (named in :data:`TABLE_OWNERS`, the one hook through which another part of
claw_nb keeps tables in this file). Each lists its columns in their physical order, each with
its DuckDB type and the migration that added it; :func:`all_tables` is the union. The DDL of every migration, the column
order rows are built in (`claw_nb.log.ingest`) and the types of the typed-list insert path all
derive from it, so a new column is one line here plus its value in the row builder.

Migrations only add (tables, columns), so an older claw_nb still works on a newer file. A
migration may also run extra SQL after its DDL (a backfill), listed in :data:`BACKFILLS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from claw_nb.records import record

if TYPE_CHECKING:
    import duckdb


@record(frozen=True)
class Column:
    name: str
    type: str = "VARCHAR"
    since: int = 1  # the migration that added it


@record(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    since: int = 1  # the migration that created it

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in physical order: the order row tuples are built in."""
        return tuple(c.name for c in self.columns)

    def create_sql(self, version: int) -> str:
        """CREATE TABLE with the columns that exist at schema ``version``."""
        parts = [f'"{c.name}" {c.type}' for c in self.columns if c.since <= version]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(parts)})"

    def list_type(self, column: str) -> str:
        """The type to cast a list of Python values to (JSON columns take their text)."""
        for c in self.columns:
            if c.name == column:
                return "VARCHAR" if c.type == "JSON" else c.type
        raise KeyError(column)


def cols(spec: str, since: int = 1) -> tuple[Column, ...]:
    """``"name TYPE, name, ..."`` (type defaults to VARCHAR) as columns of one migration."""
    out = []
    for item in spec.split(","):
        words = item.split()
        out.append(Column(words[0], words[1] if len(words) > 1 else "VARCHAR", since))
    return tuple(out)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("prompts", cols("sha, name, text, created_at TIMESTAMP"), ("sha",)),
        Table(
            "sessions",
            cols(
                "session_id, started_at TIMESTAMP, ended_at TIMESTAMP, model, workspace, task, "
                "stop_reason, system_prompt_sha, system_prompt_name, resumed_from, steps INTEGER, "
                "pid INTEGER, host"
            )
            + cols("final_answer", 2)
            + cols("trial_id, tool_schemas_sha", 5)
            + cols("parent_session_id, parent_call_id, agent_name", 10)
            + cols("forked_from, fork_step INTEGER", 13),
            ("session_id",),
        ),
        Table(
            "messages",
            cols(
                "session_id, seq INTEGER, role, content, tool_calls JSON, tool_call_id, name, "
                "created_at TIMESTAMP"
            )
            + cols("prompt_sha, content_is_json BOOLEAN, extra JSON", 2),
            ("session_id", "seq"),
        ),
        Table(
            "llm_calls",
            cols(
                "session_id, step INTEGER, model, prompt_tokens INTEGER, completion_tokens INTEGER, "
                "cached_tokens INTEGER, latency_ms DOUBLE, ttft_ms DOUBLE, tokens_per_s DOUBLE, "
                "finish_reason, usage_source, attempts INTEGER, streamed BOOLEAN, "
                "message_count INTEGER, cost_usd DOUBLE, params JSON, parts JSON, error, "
                "created_at TIMESTAMP"
            )
            + cols("system_prompt_sha, system_prompt_name", 4)
            + cols("tool_schemas_sha", 9)
            + cols(
                "prefill_tokens INTEGER, prefill_s DOUBLE, decode_s DOUBLE, cache_break BOOLEAN, "
                "cache_break_index INTEGER, cache_break_role, cache_break_reason",
                14,
            ),
        ),
        Table(
            "tool_calls",
            cols(
                "session_id, step INTEGER, call_id, tool, arguments JSON, raw_arguments, ok BOOLEAN, "
                "error_kind, error, result, duration_ms DOUBLE, decision, result_chars INTEGER, "
                "result_chars_sent INTEGER, created_at TIMESTAMP"
            )
            + cols("dialect", 7)
            + cols("permission_rule", 12),
        ),
        Table("errors", cols("session_id, kind, message, created_at TIMESTAMP")),
        Table("journal_offsets", cols("file, offset BIGINT"), ("file",)),
        Table("todos", cols("session_id, todos JSON, created_at TIMESTAMP", 2), since=2),
        Table(
            "journal_sessions",
            cols("file, session_id, last_at DOUBLE", 2),
            ("file", "session_id"),
            since=2,
        ),
        Table(
            "compactions",
            cols(
                "session_id, step INTEGER, reason, method, tokens_before INTEGER, "
                "tokens_after INTEGER, messages_before INTEGER, messages_after INTEGER, dropped, "
                "summary_tokens INTEGER, summary, focus, window_tokens INTEGER, limit_tokens INTEGER, "
                "summary_calls INTEGER, summary_prompt_tokens INTEGER, "
                "summary_completion_tokens INTEGER, duration_ms DOUBLE, created_at TIMESTAMP",
                3,
            ),
            since=3,
        ),
        Table("tool_schemas", cols("sha, tools JSON, created_at TIMESTAMP", 5), ("sha",), since=5),
        Table(
            "hook_runs",
            cols(
                "session_id, step INTEGER, event, source, command, matcher, tool, call_id, "
                "exit_code INTEGER, timed_out BOOLEAN, duration_ms DOUBLE, decision, reason, "
                "message, stdout, stderr, created_at TIMESTAMP",
                11,
            ),
            since=11,
        ),
    )
}

_NOTES = {
    1: "prompts, sessions, messages, model and tool calls, errors, journal offsets",
    2: "final answers, todo lists, lossless message round trips, abnormal-end bookkeeping",
    3: "context compactions (claw_nb.context): when, why, and how many tokens they saved",
    4: "each model call's system-prompt variant (older rows take their session's)",
    # The lab's migrations (5, 6, 8) create and grow tables declared in claw_nb.lab.store.
    5: "the prompt lab: experiments, variants, tasks, trials; tool schemas stored by sha",
    6: "the lab's optimizers: optimizer runs and every candidate step (claw_nb.lab.optimize)",
    7: "how each tool call arrived: natively, or the text dialect it was parsed from",
    8: "the lab's tamper report: what a trial's agent changed that could sway its verdict",
    9: "each model call's tool set (it grows when read_output joins mid-session)",
    10: "subagents: a child session's parent session, the task call that started it, its agent",
    11: "the user's hooks: every hook command run, its exit code, duration and decision",
    12: "the permission rule that allowed or denied each tool call",
    13: "lab forks: the session a fork replayed and the step it took over at (claw_nb.lab.fork)",
    14: "prefill: what the server read and reused per model call, and the requests that broke "
    "the prompt cache's prefix (the lab's trials keep their totals)",
}

BACKFILLS: dict[int, tuple[str, ...]] = {
    4: (
        """UPDATE llm_calls SET system_prompt_sha = s.system_prompt_sha,
                                system_prompt_name = s.system_prompt_name
           FROM sessions s
           WHERE llm_calls.session_id = s.session_id AND llm_calls.system_prompt_sha IS NULL""",
    ),
    9: (
        """UPDATE llm_calls SET tool_schemas_sha = s.tool_schemas_sha
           FROM sessions s
           WHERE llm_calls.session_id = s.session_id AND llm_calls.tool_schemas_sha IS NULL""",
    ),
}

SCHEMA_VERSION = max(_NOTES)

# Modules whose ``TABLES`` live in the log file too. The log never imports them at module level
# (they sit above it): they are loaded the first time the whole schema is needed.
TABLE_OWNERS = ("claw_nb.lab.store",)


@cache
def all_tables() -> dict[str, Table]:
    """The log's tables, then every owner's, in the order the migrations create them."""
    tables = dict(TABLES)
    for owner in TABLE_OWNERS:
        tables.update(importlib.import_module(owner).TABLES)
    return tables


def migration_sql(number: int) -> list[str]:
    """The statements of migration ``number``, derived from :data:`TABLES`."""
    statements = []
    for table in all_tables().values():
        if table.since == number:
            statements.append(table.create_sql(number))
        elif table.since < number:
            statements.extend(
                f'ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS "{c.name}" {c.type}'
                for c in table.columns
                if c.since == number
            )
    return statements + list(BACKFILLS.get(number, ()))


def _migration(number: int) -> Callable[[Any], None]:
    def apply(con: duckdb.DuckDBPyConnection) -> None:
        for statement in migration_sql(number):
            con.execute(statement)

    apply.__name__ = f"m{number}"
    apply.__doc__ = _NOTES[number]
    return apply


MIGRATIONS: list[Callable[[Any], None]] = [_migration(n) for n in range(1, SCHEMA_VERSION + 1)]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version of the schema in ``con`` (0 for an empty database)."""
    import duckdb

    try:
        return con.execute("SELECT max(version) FROM main.schema_version").fetchone()[0] or 0
    except duckdb.CatalogException:
        return 0
    except duckdb.InvalidInputException:  # Python replacement scans on: the table is missing
        return 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema in ``con`` up to :data:`SCHEMA_VERSION`, one transaction per step."""
    current = schema_version(con)
    for number in range(current + 1, SCHEMA_VERSION + 1):
        con.begin()
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            MIGRATIONS[number - 1](con)
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (?)", [number])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        current = number
    return current
