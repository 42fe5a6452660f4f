"""The lab's optimizers: `compare`, `sweep` and `reflect` (gepa), with guards and a step log.

from claw_nb.lab import optimize
cmp = optimize.compare(tasks, [baseline, candidate], repeats=3)
res = optimize.reflect(tasks, reflection_model="openai/gpt-4.1", budget=...)
"""

from __future__ import annotations

from claw_nb.lab.optimize.adopt import adopt, adopt_variant
from claw_nb.lab.optimize.compare import Comparison, compare, sweep, sweep_variants
from claw_nb.lab.optimize.guards import CandidateRejected, Guard
from claw_nb.lab.optimize.plan import RunPlan, plan_rollouts
from claw_nb.lab.optimize.proposals import ReflectionModel
from claw_nb.lab.optimize.reflect import ReflectOptions, plan_reflect, reflect
from claw_nb.lab.optimize.result import ReflectResult
from claw_nb.lab.optimize.split import Split, split_by_names, split_tasks
from claw_nb.lab.optimizer_store import load_runs, load_steps

__all__ = [
    "CandidateRejected",
    "Comparison",
    "Guard",
    "ReflectOptions",
    "ReflectResult",
    "ReflectionModel",
    "RunPlan",
    "Split",
    "adopt",
    "adopt_variant",
    "compare",
    "load_runs",
    "load_steps",
    "plan_reflect",
    "plan_rollouts",
    "reflect",
    "split_by_names",
    "split_tasks",
    "sweep",
    "sweep_variants",
]
