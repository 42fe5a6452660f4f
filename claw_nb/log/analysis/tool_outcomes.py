"""Which tools fail, and how: outcomes by tool and error kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claw_nb.log.analysis.sql import Db, SessionIds, Since, query, session_filter

if TYPE_CHECKING:  # pragma: no cover
    import pandas


ERROR_KINDS = ("malformed_json", "unknown_tool", "schema", "denied", "tool_error", "timeout")


def tool_errors(
    db: Db = None, session_id: SessionIds = None, since: Since = None, by: str = "kind"
) -> pandas.DataFrame:
    """Tool outcomes.

    ``by="kind"``: one row per tool and outcome (``ok`` or the error kind: malformed_json,
    unknown_tool, schema, denied, tool_error, timeout) with calls, share of the tool's calls,
    mean duration and result sizes before and after truncation.
    ``by="tool"``: one row per tool with calls, errors, error_rate, truncated results, mean
    duration, and a column per error kind counting its calls.
    """
    if by not in ("kind", "tool"):
        raise ValueError(f"tool_errors by 'kind' or 'tool', not {by!r}")
    where, params = session_filter(session_id, since)
    if by == "kind":
        sql = f"""
            SELECT tool, CASE WHEN ok THEN 'ok' ELSE coalesce(error_kind, 'unknown') END
                       AS outcome,
                   count(*) AS calls,
                   round(count(*) / sum(count(*)) OVER (PARTITION BY tool), 4) AS share_of_tool,
                   round(avg(duration_ms), 2) AS mean_ms,
                   round(avg(result_chars), 0) AS mean_result_chars,
                   round(avg(result_chars_sent), 0) AS mean_chars_sent
            FROM tool_calls WHERE true {where}
            GROUP BY tool, outcome ORDER BY tool, calls DESC, outcome"""
        return query(sql, db, params)
    kinds = ", ".join(
        f"count(*) FILTER (WHERE NOT ok AND error_kind = '{k}') AS {k}" for k in ERROR_KINDS
    )
    known = ", ".join(f"'{k}'" for k in ERROR_KINDS)
    sql = f"""
        SELECT tool, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS errors,
               round(count(*) FILTER (WHERE NOT ok) / count(*), 4) AS error_rate,
               count(*) FILTER (WHERE result_chars_sent < result_chars) AS truncated,
               round(avg(duration_ms), 2) AS mean_ms, {kinds},
               count(*) FILTER (WHERE NOT ok AND (error_kind IS NULL
                                                  OR error_kind NOT IN ({known}))) AS other
        FROM tool_calls WHERE true {where}
        GROUP BY tool ORDER BY calls DESC, tool"""
    return query(sql, db, params)
