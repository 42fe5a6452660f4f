"""The prompt lab: measure which prompt, tool descriptions and settings solve more tasks.

    from claw_nb import lab
    exp = lab.run("builtin", [lab.Variant("base"), lab.Variant.from_file("terse", "terse.toml")],
                  repeats=3)
    exp.leaderboard()

Tasks (`tasks`), trials and variants (`trials`), the runner (`runner`), executors (local pool,
Ray) and verifiers; statistics live in `statistics` and `power`; `fork` replays a logged trial
up to a step and lets a variant take over. Heavy parts load on use.
"""

from __future__ import annotations

from claw_nb.lazy_exports import lazy_exports

_LAZY = {
    "Task": "claw_nb.lab.tasks",
    "load_tasks": "claw_nb.lab.tasks",
    "builtin_suite": "claw_nb.lab.tasks",
    "Variant": "claw_nb.lab.variants",
    "TrialResult": "claw_nb.lab.trial_records",
    "run_experiment": "claw_nb.lab.runner",
    "run": "claw_nb.lab.runner",
    "Experiment": "claw_nb.lab.experiment",
    "open_experiment": "claw_nb.lab.experiment",
    "local_executor": "claw_nb.lab.executors",
    "ray_executor": "claw_nb.lab.executors",
    "check_tasks": "claw_nb.lab.verify",
    "fork": "claw_nb.lab.fork.run",
    "ForkResult": "claw_nb.lab.fork.run",
    "fork_failures": "claw_nb.lab.fork.failures",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("claw_nb.lab", _LAZY, globals())
