"""The optimizer's own log: one `optimizer_runs` row per run, one `optimizer_steps` row per event.

Every candidate (the seed, each proposal, each rejected one with its reason), its parent, its
scores and the reflection call that produced it land here, next to the trials that measured
it. The database is opened per write and closed at once: the lab runner opens the same file
between writes, and DuckDB lets one connection at a time hold it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.log.database import DEFAULT_TIMEOUT, open_database

if TYPE_CHECKING:
    import duckdb
    import pandas


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Step:
    """One row of `optimizer_steps`. `status` is one of: seed, proposed, rejected (by a guard),
    accepted / not_accepted (by the minibatch rule), validated, resumed (the seed reported
    again when a run continues), held_out, stopped."""

    run: str
    step: int
    status: str
    candidate: str | None = None
    parent: str | None = None
    component: str | None = None
    text_sha: str | None = None
    text: str | None = None
    reason: str | None = None
    train_score: float | None = None
    parent_score: float | None = None
    val_score: float | None = None
    rollouts: int | None = None
    reflection_model: str | None = None
    reflection_prompt: str | None = None
    reflection_reply: str | None = None
    reflection_tokens: int | None = None


_STEP_COLUMNS = [f.name for f in fields(Step)] + ["created_at"]


@contextmanager
def _connect(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con, _ = open_database(Path(db_path), read_only=False, timeout=DEFAULT_TIMEOUT)
    try:
        yield con
    finally:
        con.close()


class StepLog:
    """Appends the steps of one optimizer run to the DuckDB log."""

    def __init__(self, db_path: Path, run: str):
        self.db_path = Path(db_path)
        self.run = run
        self._next: int | None = None

    def start(self, kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """Register the run; return the config it was started with if it already exists."""
        with _connect(self.db_path) as con:
            row = con.execute(
                "SELECT config FROM optimizer_runs WHERE run = ?", [self.run]
            ).fetchone()
            if row is not None:
                return json.loads(row[0]) if row[0] else {}
            con.execute(
                "INSERT INTO optimizer_runs (run, kind, created_at, config, status) "
                "VALUES (?, ?, ?, ?, 'running')",
                [self.run, kind, _now(), json.dumps(config, default=str)],
            )
        return None

    def finish(
        self, status: str, best_candidate: str | None = None, config: dict | None = None
    ) -> None:
        """Set the run's status and best candidate (and replace its config when given)."""
        with _connect(self.db_path) as con:
            con.execute(
                "UPDATE optimizer_runs SET status = ?, best_candidate = ? WHERE run = ?",
                [status, best_candidate, self.run],
            )
            if config is not None:
                con.execute(
                    "UPDATE optimizer_runs SET config = ? WHERE run = ?",
                    [json.dumps(config, default=str), self.run],
                )

    def add(self, status: str, **values: Any) -> Step:
        """Append one step (numbered after the last one logged for this run)."""
        with _connect(self.db_path) as con:
            if self._next is None:
                last = con.execute(
                    "SELECT max(step) FROM optimizer_steps WHERE run = ?", [self.run]
                ).fetchone()[0]
                self._next = 0 if last is None else last + 1
            if values.get("text") is not None and values.get("text_sha") is None:
                values["text_sha"] = text_sha(values["text"])
            step = Step(run=self.run, step=self._next, status=status, **values)
            row = [*asdict(step).values(), _now()]
            placeholders = ", ".join("?" for _ in _STEP_COLUMNS)
            con.execute(
                f"INSERT INTO optimizer_steps ({', '.join(_STEP_COLUMNS)}) VALUES ({placeholders})",
                row,
            )
            self._next += 1
        return step


def load_steps(db_path: Path, run: str) -> pandas.DataFrame:
    """Every step of one run, in order."""
    with _connect(Path(db_path)) as con:
        return con.execute("SELECT * FROM optimizer_steps WHERE run = ? ORDER BY step", [run]).df()


def load_runs(db_path: Path) -> pandas.DataFrame:
    with _connect(Path(db_path)) as con:
        return con.execute("SELECT * FROM optimizer_runs ORDER BY created_at").df()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
