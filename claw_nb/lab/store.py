"""The lab's tables in the DuckDB log, and every query the lab runs against them.

The log (`claw_nb.log.schema`) numbers the migrations and creates the tables of each owner it
names; the lab's are declared here: experiments, variants, tasks and trials (migration 5; the
tamper report's column came in 8), optimizer runs and their steps (6). Lab modules read and
write them through these functions and `claw_nb.lab.optimizer_store` (the optimizers' rows),
never with SQL of their own. Each call opens the log for a
moment and closes it: the runner, the optimizers and a notebook take turns on one file, and
DuckDB lets one process hold it at a time.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.errors import LabError
from claw_nb.lab.tasks import Task
from claw_nb.lab.trial_records import TrialResult, trial_id
from claw_nb.lab.variants import Variant
from claw_nb.log.database import DEFAULT_TIMEOUT, connected, resolve_db_path
from claw_nb.log.ingest import ingest_journals, insert_rows, store_journal
from claw_nb.log.rows import to_json, ts
from claw_nb.log.schema import Column, Table, cols

if TYPE_CHECKING:
    import duckdb

    from claw_nb.stop import StopToken


def _table(name: str, key: str, since: int, spec: str, *later: Column) -> Table:
    """A lab table: its primary key's columns, the migration that made it, its columns."""
    return Table(name, cols(spec, since) + later, tuple(key.split(", ")), since=since)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        # The prompt lab (claw_nb.lab): what was measured, under which overrides, and the outcome.
        _table("experiments", "experiment", 5, "experiment, created_at TIMESTAMP, config JSON"),
        _table("variants", "experiment, variant", 5, "experiment, variant, sha, overrides JSON"),
        _table("tasks", "name", 5, "name, difficulty, tags JSON, instruction, source"),
        _table(
            "trials",
            "trial_id",
            5,
            "trial_id, experiment, variant, task, repeat INTEGER, reward DOUBLE, passed BOOLEAN, "
            "stop_reason, steps INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, "
            "wall_s DOUBLE, tool_errors INTEGER, session_id, error, verifier_output, "
            "finished_at TIMESTAMP",
            *cols("tamper JSON", 8),
            # what the servers read, the seconds in model calls, the prompt-cache breaks
            *cols("prefill_tokens INTEGER, model_s DOUBLE, cache_breaks INTEGER", 14),
        ),
        # The lab's optimizers (claw_nb.lab.optimize): each run, and every candidate it proposed.
        _table(
            "optimizer_runs",
            "run",
            6,
            "run, kind, created_at TIMESTAMP, config JSON, status, best_candidate",
        ),
        _table(
            "optimizer_steps",
            "run, step",
            6,
            "run, step INTEGER, candidate, parent, component, text_sha, text, status, reason, "
            "train_score DOUBLE, parent_score DOUBLE, val_score DOUBLE, rollouts INTEGER, "
            "reflection_model, reflection_prompt, reflection_reply, reflection_tokens INTEGER, "
            "created_at TIMESTAMP",
        ),
    )
}

# A trial result's fields: the `trials` columns but its key and when it was recorded.
RESULT_COLUMNS = tuple(c for c in TABLES["trials"].names if c not in ("trial_id", "finished_at"))
RUN_COLUMNS = ("run", "kind", "created_at", "status", "best_candidate")


def open_lab_log(
    path: Path,
    read_only: bool = False,
    fallback_read_only: bool = False,
    stop: StopToken | None = None,
) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The log for a moment (waiting for the lock; a read-write open migrates it); with
    `stop`, a stop interrupts the query (`claw_nb.log.database.connected`)."""
    return connected(
        Path(path),
        read_only=read_only,
        timeout=DEFAULT_TIMEOUT,
        fallback_read_only=fallback_read_only,
        stop=stop,
    )


def reading_lab_log(path: Path) -> Any:
    """Read-write when it can (migrating an old file), read-only when another has it."""
    return open_lab_log(path, fallback_read_only=True)


# -- experiments and trials ----------------------------------------------------------------------


def list_experiments(db_path: str | os.PathLike[str] | None = None) -> list[str]:
    """Experiment names in the log, oldest first."""
    path = resolve_db_path(db_path)
    if not path.exists():
        return []
    with reading_lab_log(path) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT experiment FROM experiments ORDER BY created_at, experiment"
            ).fetchall()
        ]


def load_results(db_path: str | os.PathLike[str] | None, experiment: str) -> list[TrialResult]:
    """Every recorded trial of `experiment`, in (variant, task, repeat) order."""
    path = resolve_db_path(db_path)
    if not path.exists():
        return []
    names = ", ".join(f'"{c}"' for c in RESULT_COLUMNS)
    with reading_lab_log(path) as con:
        rows = con.execute(
            f"SELECT {names} FROM trials WHERE experiment = ? ORDER BY variant, task, repeat",
            [experiment],
        ).fetchall()
    return [_result(row) for row in rows]


def _result(row: Sequence[Any]) -> TrialResult:
    data = dict(zip(RESULT_COLUMNS, row))
    for key in ("steps", "prompt_tokens", "completion_tokens", "tool_errors", "repeat"):
        data[key] = int(data[key] or 0)
    for key in ("prefill_tokens", "cache_breaks"):  # NULL: a trial recorded before they were
        data[key] = None if data[key] is None else int(data[key])
    data["model_s"] = None if data["model_s"] is None else float(data["model_s"])
    data["reward"] = float(data["reward"] or 0.0)
    data["wall_s"] = float(data["wall_s"] or 0.0)
    data["passed"] = bool(data["passed"])
    data["verifier_output"] = data["verifier_output"] or ""
    data["tamper"] = tuple(json.loads(data["tamper"])) if data["tamper"] else ()
    return TrialResult(**data)


def register(
    db_path: Path,
    experiment: str,
    tasks: Iterable[Task],
    variants: Iterable[Variant],
    config: dict[str, Any],
    stop: StopToken | None = None,
) -> set[tuple[str, str, str, int]]:
    """Record the experiment, its variants and tasks; the keys of trials already finished.

    A `stop` interrupts it (raising `Stopped`): nothing has run yet, so nothing is lost."""
    now = ts(time.time())
    with open_lab_log(db_path, stop=stop) as con:
        con.begin()
        try:
            insert_rows(
                con, "experiments", [(experiment, now, to_json(config))], "INSERT OR IGNORE"
            )
            for variant in variants:
                old = con.execute(
                    "SELECT sha FROM variants WHERE experiment = ? AND variant = ?",
                    [experiment, variant.name],
                ).fetchall()
                if old and old[0][0] != variant.sha():
                    raise LabError(
                        f"experiment {experiment!r} already has a variant {variant.name!r} with "
                        "other overrides; resuming needs the same variants (or pick a new "
                        "experiment name)"
                    )
                insert_rows(
                    con,
                    "variants",
                    [(experiment, variant.name, variant.sha(), to_json(variant.overrides()))],
                    "INSERT OR IGNORE",
                )
            task_rows = [
                (t.name, t.difficulty, to_json(list(t.tags)), t.instruction, t.path and str(t.path))
                for t in tasks
            ]
            insert_rows(con, "tasks", task_rows, "INSERT OR REPLACE")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        rows = con.execute(
            'SELECT experiment, variant, task, "repeat" FROM trials WHERE experiment = ?',
            [experiment],
        ).fetchall()
    return {(e, v, t, int(r)) for e, v, t, r in rows}


def record_trials(
    db_path: Path,
    finished: Sequence[tuple[TrialResult, bytes]],
    interrupted: Sequence[tuple[TrialResult, bytes]] = (),
) -> None:
    """Ingest the trials' journals and record their rows, in one open of the log.

    `interrupted` trials (stopped while running) leave their sessions, which say
    `interrupted` and name their trial, but no `trials` row: a resumed run does them again."""
    if not finished and not interrupted:
        return
    for _, journal in (*finished, *interrupted):
        store_journal(db_path, journal)
    now = ts(time.time())
    rows = [_trial_row(r, now) for r, _ in finished]
    pairs = [(r.session_id, trial_id(*r.key)) for r, _ in (*finished, *interrupted) if r.session_id]
    with open_lab_log(db_path) as con:
        ingest_journals(con, db_path)
        con.begin()
        try:
            if rows:
                insert_rows(con, "trials", rows, "INSERT OR REPLACE")
            if pairs:
                con.execute(
                    "UPDATE sessions SET trial_id = k.tid FROM (SELECT unnest(?::VARCHAR[]) AS "
                    "sid, unnest(?::VARCHAR[]) AS tid) AS k WHERE sessions.session_id = k.sid",
                    [[p[0] for p in pairs], [p[1] for p in pairs]],
                )
            con.commit()
        except BaseException:
            con.rollback()
            raise


def _trial_row(result: TrialResult, now: Any) -> tuple:
    """A result as a `trials` row, in the table's column order."""
    special = {
        "trial_id": trial_id(*result.key),
        "finished_at": now,
        "tamper": to_json(list(result.tamper)),
    }
    return tuple(special[c] if c in special else getattr(result, c) for c in TABLES["trials"].names)


def count_trials(db_path: Path, experiment: str) -> int:
    """How many trials of `experiment` are recorded."""
    with open_lab_log(db_path, read_only=True) as con:
        return con.execute(
            "SELECT count(*) FROM trials WHERE experiment = ?", [experiment]
        ).fetchone()[0]


def seconds_per_trial(db_path: Path, model: str | None = None) -> tuple[float | None, int]:
    """(median wall seconds per finished trial, of how many), optionally of one model.

    The median, not the mean: the first trial of a process pays for importing LiteLLM.
    """
    with open_lab_log(db_path, read_only=True) as con:
        sql = "SELECT median(t.wall_s), count(*) FROM trials t"
        params: list[str] = []
        if model:
            sql += " JOIN sessions s ON s.session_id = t.session_id WHERE s.model = ? AND"
            params.append(model)
        else:
            sql += " WHERE"
        median, count = con.execute(sql + " t.wall_s IS NOT NULL", params).fetchone()
    if not count or median is None or math.isnan(median):
        return None, 0
    return float(median), int(count)


def trial_evidence_rows(
    db_path: Path, experiment: str, variant: str, tasks: Sequence[str]
) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """For reflection: the trials of `variant` on `tasks` (task, reward, verifier_output,
    stop_reason, error, session_id, final_answer, tamper), and per session its failed tool
    calls (tool, arguments, error_kind, error) in order."""
    with open_lab_log(db_path, read_only=True) as con:
        marks = ", ".join("?" for _ in tasks)
        trials = con.execute(
            f"""SELECT t.task, t.reward, t.verifier_output, t.stop_reason, t.error, t.session_id,
                       s.final_answer, t.tamper
                FROM trials t LEFT JOIN sessions s ON s.session_id = t.session_id
                WHERE t.experiment = ? AND t.variant = ? AND t.task IN ({marks})
                ORDER BY t.task, t.repeat""",
            [experiment, variant, *tasks],
        ).fetchall()
        sessions = [row[5] for row in trials if row[5]]
        failed: dict[str, list[tuple]] = {}
        if sessions:
            smarks = ", ".join("?" for _ in sessions)
            for session_id, *call in con.execute(
                f"""SELECT session_id, tool, arguments, error_kind, error FROM tool_calls
                    WHERE session_id IN ({smarks}) AND NOT coalesce(ok, false)
                    ORDER BY session_id, step""",
                sessions,
            ).fetchall():
                failed.setdefault(session_id, []).append(tuple(call))
    return trials, failed


def task_difficulties(db_path: Path, names: Sequence[str]) -> dict[str, str | None]:
    """name -> difficulty of the logged tasks among `names`."""
    if not names:
        return {}
    marks = ", ".join("?" for _ in names)
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            f"SELECT name, difficulty FROM tasks WHERE name IN ({marks})", list(names)
        ).fetchall()
    return dict(rows)


def variant_overrides(db_path: Path, experiment: str) -> dict[str, dict[str, Any]]:
    """variant name -> its overrides, as registered for `experiment`."""
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            "SELECT variant, overrides FROM variants WHERE experiment = ?", [experiment]
        ).fetchall()
    return {name: json.loads(data) if data else {} for name, data in rows}
