"""An experiment in the DuckDB log: its rows, and the tables a user reads from them.

The driver of a run (`claw_nb.lab.runner`) is the only writer (through `claw_nb.lab.store`): it
registers the experiment, its variants and tasks, and records each finished trial after
ingesting the trial's journal, linking the session to the trial (``sessions.trial_id``).
:class:`Experiment` reads them back:
results, a leaderboard with intervals (`claw_nb.lab.statistics`), a variant x task table and
paired comparisons.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.errors import LabError
from claw_nb.lab.store import RESULT_COLUMNS, list_experiments, load_results
from claw_nb.lab.trials import TrialResult
from claw_nb.log.database import resolve_db_path
from claw_nb.records import record

if TYPE_CHECKING:
    import pandas


@record
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

        rows = [[getattr(r, c) for c in RESULT_COLUMNS] for r in self.results()]
        return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))

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

    def fork_failures(self, variant: Any, **options: Any) -> Any:
        """Fork every failed trial at its first failing step under `variant` and compare the
        forks with the originals (`claw_nb.lab.fork.failures`)."""
        from claw_nb.lab.fork.failures import fork_failures

        return fork_failures(self.name, variant, db_path=self.db_path, **options)

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
