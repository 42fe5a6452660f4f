"""The prompt lab: measure which prompt, tool descriptions and settings solve more tasks.

    from claw_nb import lab
    exp = lab.run("builtin", [lab.Variant("base"), lab.Variant.from_file("terse", "terse.toml")],
                  repeats=3)
    exp.leaderboard()

Tasks (`tasks`), trials and variants (`trials`), the runner (`runner`), executors (local pool,
Ray) and verifiers; statistics live in `statistics` and `power`. Heavy parts load on use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Task": "claw_nb.lab.tasks",
    "load_tasks": "claw_nb.lab.tasks",
    "builtin_suite": "claw_nb.lab.tasks",
    "Variant": "claw_nb.lab.trials",
    "TrialResult": "claw_nb.lab.trials",
    "run_experiment": "claw_nb.lab.runner",
    "run": "claw_nb.lab.runner",
    "Experiment": "claw_nb.lab.experiment",
    "open_experiment": "claw_nb.lab.experiment",
    "local_executor": "claw_nb.lab.executors",
    "ray_executor": "claw_nb.lab.executors",
    "check_tasks": "claw_nb.lab.verify",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'claw_nb.lab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
