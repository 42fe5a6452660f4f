"""Planning forks on the driver: everything a fork needs is read from the log here, before any
fork runs, so the workers never open it.

A plan is one fork: the trial spec its worker runs (the forks' experiment, the variant, the
task, a repeat number of its own, the model and server), the logged trajectory and the step,
plus what the driver keeps to judge the fork against its original (its reward and steps, the
calls and tokens of the steps the fork does not rerun). The planner registers the forks'
experiment (default: the original's name + ``-forks``) and hands out repeat numbers up front,
in order, so forks running side by side get the same numbers one after another would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.trajectory import Trajectory
from claw_nb.lab.tasks import Task
from claw_nb.lab.trials import TrialSpec
from claw_nb.lab.variants import Variant


@dataclass(frozen=True)
class ForkPlan:
    """One fork to run: what its worker gets (`spec`, `trajectory`, `at_step`) and what the
    driver keeps to compare it with the original."""

    spec: TrialSpec
    trajectory: Trajectory
    at_step: int
    original_reward: float
    original_steps: int
    calls_saved: int  # model calls of steps 1..k-1, not made again
    tokens_saved: int  # their prompt + completion tokens


def logged_trajectory(db_path: Path, session_id: str) -> Trajectory:
    """The session's conversation and tool-call rows, read from the log."""
    from claw_nb.log.queries import load_messages

    return Trajectory(
        session_id, load_messages(db_path, session_id), store.tool_call_rows(db_path, session_id)
    )


class ForkPlanner:
    """Plans forks of logged trials under one variant, with the options they share; the
    defaults come from each original experiment (its model, server and sandboxing)."""

    def __init__(
        self,
        db_path: Path,
        variant: Variant,
        *,
        repeats: int = 1,
        experiment: str | None = None,
        task: Task | None = None,
        model: str | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        unsandboxed: bool | None = None,
    ) -> None:
        if repeats < 1:
            raise LabError(f"repeats must be at least 1, got {repeats}")
        self.db_path, self.variant, self.repeats = db_path, variant, repeats
        self.experiment, self.task = experiment, task
        self.model, self.api_base, self.api_key = model, api_base, api_key
        self.unsandboxed = unsandboxed
        self._next_repeat: dict[tuple[str, str, str], int] = {}

    def plan(self, session_id: str, trajectory: Trajectory, at_step: int) -> list[ForkPlan]:
        """`repeats` forks of the trial `session_id` at `at_step`; registers their experiment."""
        path = self.db_path
        original = store.trial_row(path, session_id)
        trajectory.check_step(at_step)
        task = self.task or logged_task(original)
        config = original["config"]
        unsandboxed = self.unsandboxed
        if unsandboxed is None:
            unsandboxed = bool(config.get("unsandboxed"))
        if not unsandboxed:
            from claw_nb.lab.verify import require_sandbox

            require_sandbox()
        name = self.experiment or f"{original['experiment']}-forks"
        _register(path, name, task, self.variant, original, unsandboxed)
        calls_saved, saved_prompt, saved_completion = store.tokens_before(path, session_id, at_step)
        return [
            ForkPlan(
                TrialSpec(
                    name,
                    self.variant,
                    task,
                    self._take_repeat(name, task.name),
                    model=self.model or config.get("model"),
                    api_base=self.api_base or config.get("api_base"),
                    api_key=self.api_key,
                    unsandboxed=unsandboxed,
                    options=dict(config.get("options") or {}),
                ),
                trajectory,
                at_step,
                original_reward=float(original["reward"] or 0.0),
                original_steps=int(original["steps"] or 0),
                calls_saved=calls_saved,
                tokens_saved=saved_prompt + saved_completion,
            )
            for _ in range(self.repeats)
        ]

    def _take_repeat(self, experiment: str, task: str) -> int:
        """The next repeat number of (experiment, variant, task): the first free one in the
        log, then one more for each fork planned."""
        key = (experiment, self.variant.name, task)
        if key not in self._next_repeat:
            self._next_repeat[key] = store.next_repeat(self.db_path, *key)
        number = self._next_repeat[key]
        self._next_repeat[key] = number + 1
        return number


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


def _register(
    path: Path, name: str, task: Task, variant: Variant, original: dict, unsandboxed: bool
) -> None:
    from claw_nb.lab.store import register

    config = {
        "forks_of": original["experiment"],
        "variants": [variant.name],
        "tasks": [task.name],
        "model": original["config"].get("model"),
        "api_base": original["config"].get("api_base"),
        "unsandboxed": unsandboxed,
        "options": original["config"].get("options") or {},
    }
    register(path, name, [task], [variant], config)
