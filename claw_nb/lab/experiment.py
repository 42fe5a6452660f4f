"""An experiment in the DuckDB log: its rows, and the tables a user reads from them.

The driver of a run (`claw_nb.lab.runner`) is the only writer: it registers the experiment,
its variants and tasks, and records each finished trial after ingesting the trial's journal,
linking the session to the trial (``sessions.trial_id``). :class:`Experiment` reads them back:
results, a leaderboard with intervals (`claw_nb.lab.statistics`), a variant x task table and
paired comparisons.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.errors import LabError
from claw_nb.lab.tasks import Task
from claw_nb.lab.trials import TrialResult, Variant, trial_id
from claw_nb.log.database import DEFAULT_TIMEOUT, open_database, resolve_db_path
from claw_nb.log.ingest import ingest_journals, insert_rows, store_journal
from claw_nb.log.rows import to_json, ts

if TYPE_CHECKING:
    import duckdb
    import pandas

_RESULT_COLUMNS = (
    "experiment",
    "variant",
    "task",
    "repeat",
    "reward",
    "passed",
    "stop_reason",
    "steps",
    "prompt_tokens",
    "completion_tokens",
    "wall_s",
    "tool_errors",
    "session_id",
    "error",
    "verifier_output",
    "tamper",
)


@dataclass
class Experiment:
    """A named experiment in a log file; ``stopped`` is True when the run was interrupted."""

    name: str
    db_path: Path
    stopped: bool = False

    def results(self) -> list[TrialResult]:
        """Every recorded trial, in (variant, task, repeat) order."""
        return load_results(self.db_path, self.name)

    def frame(self) -> pandas.DataFrame:
        """The trials as a DataFrame (one row per trial)."""
        import pandas as pd

        rows = [[getattr(r, c) for c in _RESULT_COLUMNS] for r in self.results()]
        return pd.DataFrame(rows, columns=list(_RESULT_COLUMNS))

    def leaderboard(self, baseline: str | None = None) -> pandas.DataFrame:
        """Per variant: pass rate with its interval, pass@k, tokens and seconds per solved
        task, tool error rate; against ``baseline`` (default: the first variant) the paired
        difference, its interval and p-value (Holm-corrected)."""
        from claw_nb.lab import statistics

        return statistics.leaderboard(self._results_or_fail(), baseline=baseline)

    def per_task(self) -> pandas.DataFrame:
        """Mean reward per task (rows) and variant (columns)."""
        from claw_nb.lab import statistics

        return statistics.per_task_table(self._results_or_fail())

    def compare(self, a: str, b: str) -> pandas.DataFrame:
        """Variant ``b`` against ``a``, paired on tasks."""
        from claw_nb.lab import statistics

        return statistics.compare_variants(self._results_or_fail(), a, b)

    def _results_or_fail(self) -> list[TrialResult]:
        results = self.results()
        if not results:
            raise LabError(f"experiment {self.name!r} has no finished trials in {self.db_path}")
        return results

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, trials={len(self.results())}, db={str(self.db_path)!r})"


def open_experiment(name: str, db_path: str | os.PathLike[str] | None = None) -> Experiment:
    """An experiment already in the log (``claw-nb lab report NAME``)."""
    path = resolve_db_path(db_path)
    names = list_experiments(path)
    if name not in names:
        known = ", ".join(names[-10:]) or "none yet"
        raise LabError(f"no experiment {name!r} in {path} (experiments: {known})")
    return Experiment(name, path)


def list_experiments(db_path: str | os.PathLike[str] | None = None) -> list[str]:
    """Experiment names in the log, oldest first."""
    path = resolve_db_path(db_path)
    if not path.exists():
        return []
    with _connection(path, read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT experiment FROM experiments ORDER BY created_at, experiment"
            ).fetchall()
        ]


def load_results(db_path: str | os.PathLike[str] | None, experiment: str) -> list[TrialResult]:
    path = resolve_db_path(db_path)
    if not path.exists():
        return []
    names = ", ".join(f'"{c}"' for c in _RESULT_COLUMNS)
    with _connection(path, read_only=True) as con:
        rows = con.execute(
            f"SELECT {names} FROM trials WHERE experiment = ? ORDER BY variant, task, repeat",
            [experiment],
        ).fetchall()
    return [_result(row) for row in rows]


def _result(row: Sequence[Any]) -> TrialResult:
    data = dict(zip(_RESULT_COLUMNS, row))
    for key in ("steps", "prompt_tokens", "completion_tokens", "tool_errors", "repeat"):
        data[key] = int(data[key] or 0)
    data["reward"] = float(data["reward"] or 0.0)
    data["wall_s"] = float(data["wall_s"] or 0.0)
    data["passed"] = bool(data["passed"])
    data["verifier_output"] = data["verifier_output"] or ""
    data["tamper"] = tuple(json.loads(data["tamper"])) if data["tamper"] else ()
    return TrialResult(**data)


# -- writing (the driver only) ----------------------------------------------------------------------


class _connection:
    """Open the log for a moment (waiting for the lock), migrate it, close it afterwards."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path, self.read_only = path, read_only

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con, _ = open_database(
            self.path, read_only=False, timeout=DEFAULT_TIMEOUT, fallback_read_only=self.read_only
        )
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def register(
    db_path: Path,
    experiment: str,
    tasks: Iterable[Task],
    variants: Iterable[Variant],
    config: dict[str, Any],
) -> set[tuple[str, str, str, int]]:
    """Record the experiment, its variants and tasks; the keys of trials already finished."""
    now = ts(time.time())
    with _connection(db_path) as con:
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
            insert_rows(
                con,
                "tasks",
                [
                    (
                        t.name,
                        t.difficulty,
                        to_json(list(t.tags)),
                        t.instruction,
                        str(t.path) if t.path else None,
                    )
                    for t in tasks
                ],
                "INSERT OR REPLACE",
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        rows = con.execute(
            'SELECT experiment, variant, task, "repeat" FROM trials WHERE experiment = ?',
            [experiment],
        ).fetchall()
    return {(e, v, t, int(r)) for e, v, t, r in rows}


def record_trials(db_path: Path, finished: Sequence[tuple[TrialResult, bytes]]) -> None:
    """Ingest the trials' journals and record their rows, in one open of the log."""
    if not finished:
        return
    for _, journal in finished:
        store_journal(db_path, journal)
    now = ts(time.time())
    rows = []
    for r, _ in finished:
        rows.append(
            (
                trial_id(*r.key),
                r.experiment,
                r.variant,
                r.task,
                r.repeat,
                r.reward,
                r.passed,
                r.stop_reason,
                r.steps,
                r.prompt_tokens,
                r.completion_tokens,
                r.wall_s,
                r.tool_errors,
                r.session_id,
                r.error,
                r.verifier_output,
                now,
                to_json(list(r.tamper)),
            )
        )
    with _connection(db_path) as con:
        ingest_journals(con, db_path)
        con.begin()
        try:
            insert_rows(con, "trials", rows, "INSERT OR REPLACE")
            pairs = [(r.session_id, trial_id(*r.key)) for r, _ in finished if r.session_id]
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
