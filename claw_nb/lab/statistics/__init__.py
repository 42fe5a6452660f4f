"""Honest statistics for small task suites: intervals, paired tests and a leaderboard.

Small suites are noisy, so every number carries its interval and every comparison says how
much evidence stands behind it. Pure numpy and the standard library (scipy checks these
functions in the tests but is not needed at run time).

Conventions: a variant's score is the mean over tasks of each task's mean reward (every task
weighs the same, whatever its number of repeats). In a comparison `a` is the baseline and `b`
the candidate: a positive difference means `b` solves more.

`intervals` has the intervals and pass@k, `paired_tests` the tests between two variants,
`tables` the leaderboard and comparisons over trial results; all are importable from here.
"""

from __future__ import annotations

from claw_nb.lab.statistics.intervals import (
    bootstrap_interval,
    pass_at_k,
    pass_hat_k,
    wilson_interval,
)
from claw_nb.lab.statistics.paired_tests import (
    EXACT_SIGN_FLIPS,
    SMALL_DISCORDANT,
    SMALL_TASKS,
    PairedComparison,
    holm,
    mcnemar_exact,
    paired_comparison,
    sign_flip_test,
)
from claw_nb.lab.statistics.tables import (
    compare_variants,
    leaderboard,
    per_task_table,
    rewards_by_task,
    variant_summary,
    variants_in,
)

__all__ = [
    "EXACT_SIGN_FLIPS",
    "SMALL_DISCORDANT",
    "SMALL_TASKS",
    "PairedComparison",
    "bootstrap_interval",
    "compare_variants",
    "holm",
    "leaderboard",
    "mcnemar_exact",
    "paired_comparison",
    "pass_at_k",
    "pass_hat_k",
    "per_task_table",
    "rewards_by_task",
    "sign_flip_test",
    "variant_summary",
    "variants_in",
    "wilson_interval",
]
