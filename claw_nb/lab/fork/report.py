"""Forks against their originals: one row per fork and a paired comparison, the same for
`lab fork` (the forks of one trial) and `lab fork-failures` (every failed trial's).

Each original trial is a pair's baseline (its reward), its forks' rewards the candidate; the
lab's paired statistics compare them (`claw_nb.lab.statistics.paired_comparison`: exact McNemar
for one 0/1 fork per trial, a sign-flip test with repeats, the small-sample flag). The shells
print or draw this report; its numbers are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from claw_nb.lab.fork.run import ForkResult
from claw_nb.records import record

if TYPE_CHECKING:
    import pandas

    from claw_nb.lab.statistics import PairedComparison


@record(frozen=True)
class ForkReport:
    """Forks of `what` (e.g. "failed trials of base-exp") under `variant`, their paired
    comparison with the originals, and whether a stop cut the forking short."""

    what: str
    variant: str
    forks: tuple[ForkResult, ...]
    comparison: PairedComparison
    stopped: bool = False

    @property
    def experiment(self) -> str:
        """The forks' experiment ('' when none finished)."""
        return self.forks[0].experiment if self.forks else ""

    def frame(self) -> pandas.DataFrame:
        """One row per fork: the original trial, the step, both rewards, replay and cost."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "task": f.task,
                    "original": f.forked_from,
                    "fork_step": f.fork_step,
                    "original_reward": f.original_reward,
                    "fork": f.session_id,
                    "reward": f.reward,
                    "diverged": len(f.divergences),
                    "model_calls": f.model_calls,
                    "calls_saved": f.calls_saved,
                    "tokens": f.prompt_tokens + f.completion_tokens,
                    "tokens_saved": f.tokens_saved,
                    "wall_s": round(f.wall_s, 3),
                }
                for f in self.forks
            ],
            columns=[
                "task",
                "original",
                "fork_step",
                "original_reward",
                "fork",
                "reward",
                "diverged",
                "model_calls",
                "calls_saved",
                "tokens",
                "tokens_saved",
                "wall_s",
            ],
        )

    def summary(self) -> str:
        recovered = sum(f.passed for f in self.forks)
        text = (
            f"{len(self.forks)} fork(s) of {self.what} under {self.variant}: {recovered} "
            f"passed; fork vs original {self.comparison.summary()}"
        )
        return text + ("; stopped before the end" if self.stopped else "")


def compare_forks(
    what: str, variant: str, forks: Sequence[ForkResult], stopped: bool = False
) -> ForkReport:
    """The forks paired with their originals by trial."""
    from claw_nb.lab.statistics import paired_comparison

    originals: dict[str, list[float]] = {}
    forked: dict[str, list[float]] = {}
    for f in forks:
        originals[f.forked_from] = [f.original_reward]
        forked.setdefault(f.forked_from, []).append(f.reward)
    return ForkReport(what, variant, tuple(forks), paired_comparison(originals, forked), stopped)
