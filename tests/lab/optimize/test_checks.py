"""The checks the optimizers' API and command share: one function each."""

from __future__ import annotations

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.compare import check_variants
from claw_nb.lab.optimize.split import split_by_names, split_tasks
from claw_nb.lab.optimize.sweep_grid import sweep_variants
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.testing.lab_demo import demo_task_specs

TASKS = load_tasks(demo_task_specs(6))


def test_the_baseline_defaults_to_the_first_variant():
    variants = [Variant("a"), Variant("b")]
    assert check_variants(TASKS, variants, None) == "a"
    assert check_variants(TASKS, variants, "b") == "b"
    with pytest.raises(ConfigError, match="baseline 'c' is not one of the variants"):
        check_variants(TASKS, variants, "c")
    with pytest.raises(ConfigError, match="at least one task and one variant"):
        check_variants([], variants, None)


def test_a_sweep_counts_its_variants_against_the_cap():
    grid = {"temperature": [0, 1]}
    assert len(sweep_variants(Variant("base"), grid)) == 3  # base + one per value
    assert len(sweep_variants(Variant("base"), grid, max_variants=3)) == 3
    with pytest.raises(ConfigError, match=r"the sweep has 3 variants \(cap 2\)"):
        sweep_variants(Variant("base"), grid, max_variants=2)
    with pytest.raises(ConfigError, match="cannot sweep"):
        sweep_variants(Variant("base"), {"colour": [1]})


def test_a_split_for_search_needs_train_and_validation_tasks():
    split = split_tasks(TASKS, seed=0)
    assert split.for_search() is split
    names = [t.name for t in TASKS]
    with pytest.raises(ConfigError, match="reflect needs train and validation tasks"):
        split_by_names(TASKS, names[:3], [], names[3:]).for_search()
