"""The optimizers' rows in the lab's tables: one `optimizer_runs` row per run, one
`optimizer_steps` row per candidate step (the tables are declared in `claw_nb.lab.store`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.lab.store import RUN_COLUMNS, open_lab_log, reading_lab_log

if TYPE_CHECKING:
    import pandas

# -- optimizer runs and their steps -------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def logged_run(db_path: Path, run: str) -> dict[str, Any] | None:
    """The `optimizer_runs` row of `run` as a dict (config parsed), or None."""
    if not Path(db_path).exists():
        return None
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            "SELECT kind, status, config, best_candidate, created_at FROM optimizer_runs "
            "WHERE run = ?",
            [run],
        ).fetchall()
    if not rows:
        return None
    row = dict(zip(("kind", "status", "config", "best_candidate", "created_at"), rows[0]))
    return {"run": run, **row, "config": json.loads(row["config"]) if row["config"] else {}}


def run_rows(db_path: Path) -> list[tuple]:
    """Every optimizer run, oldest first, as :data:`RUN_COLUMNS` tuples."""
    if not Path(db_path).exists():
        return []
    with reading_lab_log(db_path) as con:
        return con.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM optimizer_runs ORDER BY created_at"
        ).fetchall()


def start_run(db_path: Path, run: str, kind: str, config: dict[str, Any]) -> dict | None:
    """Register an optimizer run; return the config it was started with if it exists."""
    with open_lab_log(db_path) as con:
        row = con.execute("SELECT config FROM optimizer_runs WHERE run = ?", [run]).fetchone()
        if row is not None:
            return json.loads(row[0]) if row[0] else {}
        con.execute(
            "INSERT INTO optimizer_runs (run, kind, created_at, config, status) "
            "VALUES (?, ?, ?, ?, 'running')",
            [run, kind, _now(), json.dumps(config, default=str)],
        )
    return None


def finish_run(
    db_path: Path,
    run: str,
    status: str,
    best_candidate: str | None = None,
    config: dict | None = None,
) -> None:
    """Set a run's status and best candidate (and replace its config when given)."""
    with open_lab_log(db_path) as con:
        con.execute(
            "UPDATE optimizer_runs SET status = ?, best_candidate = ? WHERE run = ?",
            [status, best_candidate, run],
        )
        if config is not None:
            con.execute(
                "UPDATE optimizer_runs SET config = ? WHERE run = ?",
                [json.dumps(config, default=str), run],
            )


def next_step(db_path: Path, run: str) -> int:
    """The number the run's next step gets (0 for a new run)."""
    with open_lab_log(db_path) as con:
        last = con.execute("SELECT max(step) FROM optimizer_steps WHERE run = ?", [run]).fetchone()
    return 0 if last[0] is None else last[0] + 1


def insert_step(db_path: Path, values: dict[str, Any]) -> None:
    """One `optimizer_steps` row (its columns by name; `created_at` is now)."""
    names = [*values, "created_at"]
    marks = ", ".join("?" for _ in names)
    with open_lab_log(db_path) as con:
        con.execute(
            f"INSERT INTO optimizer_steps ({', '.join(names)}) VALUES ({marks})",
            [*values.values(), _now()],
        )


def load_steps(db_path: Path, run: str) -> pandas.DataFrame:
    """Every step of one optimizer run, in order."""
    with open_lab_log(db_path) as con:
        return con.execute("SELECT * FROM optimizer_steps WHERE run = ? ORDER BY step", [run]).df()


def load_runs(db_path: Path) -> pandas.DataFrame:
    """Every optimizer run, oldest first."""
    with open_lab_log(db_path) as con:
        return con.execute("SELECT * FROM optimizer_runs ORDER BY created_at").df()
