"""Forks: replay a logged trial up to step k, then let another prompt, tool set or model take
over, instead of rerunning the whole trial.

    from claw_nb import lab
    lab.fork("3f9c2a", at_step=6, variant=lab.Variant.from_file("strict", "strict.toml"))
    lab.fork_failures("terse-vs-base", lab.Variant.from_file("strict", "strict.toml"),
                      executor=lab.local_executor(2))

`trajectory` cuts a logged session at a step, `replay` reruns its tool calls, `plan` checks
where to fork and reads what the forks need from the log (on the driver), `worker` runs one fork
as a trial (where an executor puts it: a local pool or a Ray cluster), `run` drives the forks
through an executor and records each as it ends (with a lab progress display and a stop
token), `failures` forks an experiment's failed trials, `report` compares forks with their
originals, `command` checks the shells' words, `store` holds the queries.
"""

from __future__ import annotations

from claw_nb.lazy_exports import lazy_exports

_LAZY = {
    "ForkResult": "claw_nb.lab.fork.run",
    "fork": "claw_nb.lab.fork.run",
    "ForkPoint": "claw_nb.lab.fork.plan",
    "fork_point": "claw_nb.lab.fork.plan",
    "ForkReport": "claw_nb.lab.fork.report",
    "FailureForks": "claw_nb.lab.fork.failures",
    "fork_failures": "claw_nb.lab.fork.failures",
    "Divergence": "claw_nb.lab.fork.replay",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("claw_nb.lab.fork", _LAZY, globals())
