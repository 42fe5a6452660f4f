"""Planning forks on the driver: everything a fork needs is read from the log here, before any
fork runs, so the workers never open it.

:func:`fork_point` checks a logged trial for a fork at one step (one-line errors before
anything runs) and reads it: its `trials` row with the experiment's config, its conversation
and tool-call rows, its task. :func:`plan_forks` turns points into :class:`ForkPlan` s, one per
fork: the trial spec its worker runs (the forks' experiment, default the original's name +
``-forks``; the variant; the task; a repeat number of its own; model, server and sandboxing,
by default the original experiment's), the trajectory and the step, plus what the driver keeps
to judge the fork against its original (the calls and tokens of the steps it does not rerun).
Repeat numbers go on from the forks already in the log and are handed out up front, in order,
so forks running side by side get the numbers one after another would have, and a second fork
of the same task adds trials, never replaces one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.trajectory import Trajectory
from claw_nb.lab.tasks import Task
from claw_nb.lab.trials import TrialSpec
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.records import record
from claw_nb.stop import StopToken


@record(frozen=True)
class ForkPoint:
    """A logged trial checked for a fork at one step: what every fork of it needs."""

    session_id: str
    at_step: int
    original: dict[str, Any]  # its `trials` row with the experiment's config
    trajectory: Trajectory
    task: Task

    @property
    def experiment(self) -> str:
        return str(self.original["experiment"])

    @property
    def unsandboxed(self) -> bool:
        """Whether the original experiment ran without bubblewrap (a fork does the same)."""
        return bool(self.original["config"].get("unsandboxed"))


@record(frozen=True)
class ForkPlan:
    """One fork to run: what its worker gets (`spec`, `trajectory`, `at_step`, plain data)
    and what the driver keeps to compare it with the original."""

    spec: TrialSpec
    point: ForkPoint
    calls_saved: int  # model calls of steps 1..k-1, not made again
    tokens_saved: int  # their prompt + completion tokens

    @property
    def trajectory(self) -> Trajectory:
        return self.point.trajectory

    @property
    def at_step(self) -> int:
        return self.point.at_step

    @property
    def original_reward(self) -> float:
        return float(self.point.original["reward"] or 0.0)

    @property
    def original_steps(self) -> int:
        return int(self.point.original["steps"] or 0)


def logged_trajectory(db_path: Path, session_id: str) -> Trajectory:
    """The session's conversation and tool-call rows, read from the log."""
    from claw_nb.log.queries import load_messages

    return Trajectory(
        session_id, load_messages(db_path, session_id), store.tool_call_rows(db_path, session_id)
    )


def fork_point(
    session: str,
    at_step: int | None,
    db_path: str | os.PathLike[str] | None = None,
    task: Task | None = None,
) -> ForkPoint:
    """Check that `session` (id or unique prefix) is a logged trial with a step `at_step`
    (None: its first failing step) and that its task can rebuild the workspace; one-line
    errors (SessionNotFound, LabError) before anything runs. `task` replaces the logged one."""
    path = resolve_db_path(db_path)
    session_id = store.find_trial_session(path, session)
    original = store.trial_row(path, session_id)
    trajectory = logged_trajectory(path, session_id)
    step = trajectory.first_failing_step() if at_step is None else at_step
    trajectory.check_step(step)
    return ForkPoint(session_id, step, original, trajectory, task or logged_task(original))


def check_forkable(variant: Variant, repeats: int) -> None:
    """Refuse what no fork can do, before anything runs."""
    if repeats < 1:
        raise LabError(f"--repeats must be at least 1, got {repeats}")
    if variant.external:
        raise LabError(
            f"variant {variant.name!r} runs a command-line agent, which cannot continue a "
            "logged conversation: fork with a variant of claw_nb's own agent"
        )


def plan_forks(
    db_path: Path,
    points: Sequence[ForkPoint],
    variant: Variant,
    *,
    repeats: int = 1,
    experiment: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    unsandboxed: bool | None = None,
) -> list[ForkPlan]:
    """Every fork to run, `repeats` per point, in order (see the module docstring). Refuses a
    variant no fork can run and, for sandboxed forks, a machine without bubblewrap."""
    check_forkable(variant, repeats)
    taken: dict[tuple[str, str], int] = {}
    plans = []
    for point in points:
        name = experiment or f"{point.experiment}-forks"
        config = point.original["config"]
        calls, prompt, completion = store.tokens_before(db_path, point.session_id, point.at_step)
        for _ in range(repeats):
            slot = (name, point.task.name)
            if slot not in taken:
                taken[slot] = store.next_repeat(db_path, name, variant.name, point.task.name)
            repeat, taken[slot] = taken[slot], taken[slot] + 1
            spec = TrialSpec(
                name,
                variant,
                point.task,
                repeat,
                model=model or config.get("model"),
                api_base=api_base or config.get("api_base"),
                api_key=api_key,
                unsandboxed=point.unsandboxed if unsandboxed is None else unsandboxed,
                options=dict(config.get("options") or {}),
            )
            plans.append(ForkPlan(spec, point, calls, prompt + completion))
    if any(not plan.spec.unsandboxed for plan in plans):
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    return plans


def register_forks(
    db_path: Path, plans: Sequence[ForkPlan], variant: Variant, stop: StopToken | None = None
) -> None:
    """Record the forks' experiment, with each forked trial's task, before any fork runs; a
    `stop` interrupts it (raising `Stopped`: nothing has run yet)."""
    from claw_nb.lab.store import register

    registered: set[tuple[str, str]] = set()
    for plan in plans:
        point, spec = plan.point, plan.spec
        if (spec.experiment, point.session_id) in registered:
            continue
        registered.add((spec.experiment, point.session_id))
        original = point.original
        config = {
            "forks_of": original["experiment"],
            "variants": [variant.name],
            "tasks": [point.task.name],
            "model": original["config"].get("model"),
            "api_base": original["config"].get("api_base"),
            "unsandboxed": spec.unsandboxed,
            "options": original["config"].get("options") or {},
        }
        register(db_path, spec.experiment, [point.task], [variant], config, stop=stop)


def logged_task(original: dict[str, Any]) -> Task:
    """The original trial's task, loaded again from the folder the log names."""
    from claw_nb.lab.tasks import load_tasks

    source, name = original["source"], original["task"]
    if not source or not Path(source).is_dir():
        raise LabError(
            f"task {name!r}'s folder ({source or 'not logged'}) is gone: pass the task "
            "(fork(..., task=...)) to rebuild the workspace"
        )
    for task in load_tasks(source):
        if task.name == name:
            return task
    raise LabError(f"task {name!r} is no longer in {source}")
