"""Forking logged trials: check where to fork (`fork_point`), then run the forks one after
another (`run_forks`), each recorded as it ends.

Each fork is a trial (`claw_nb.lab.fork.trial`) of its own experiment (default: the original's
name + ``-forks``) and a session whose ``forked_from`` and ``fork_step`` say where it came from.
Like a lab run, the forks show on a lab `Progress` display (queued, running step n, verifying,
passed/failed, stopped, with times) and stop on a `StopToken`: queued forks never start, the
running one ends at its agent's next safe point and keeps its session but gets no `trials` row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.replay import Divergence
from claw_nb.lab.fork.trajectory import Trajectory
from claw_nb.lab.progress import Progress
from claw_nb.lab.tasks import Task
from claw_nb.lab.trials import TrialResult, TrialSpec
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.stop import Stopped, StopToken

TICK_S = 0.2  # how often a display is redrawn while a fork runs


@dataclass(frozen=True)
class ForkResult:
    """One fork: its session and verdict, what the replay found, and what it cost against the
    original trial (the calls and tokens of the steps it did not rerun)."""

    session_id: str | None
    forked_from: str
    fork_step: int
    experiment: str
    variant: str
    task: str
    repeat: int
    reward: float
    passed: bool
    stop_reason: str
    error: str | None
    replayed: int
    skipped: int
    divergences: tuple[Divergence, ...]
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    first_prompt_tokens: int | None  # the prefill of the fork's first request
    wall_s: float
    replay_s: float
    original_reward: float
    original_steps: int
    calls_saved: int  # model calls of steps 1..k-1, not made again
    tokens_saved: int  # their prompt + completion tokens

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        text = (
            f"fork {self.session_id} of {self.forked_from} at step {self.fork_step} "
            f"({self.variant}, {self.task}): {verdict} reward {self.reward:g} "
            f"(original {self.original_reward:g}); replayed {self.replayed} call(s), "
            f"{len(self.divergences)} diverged; {self.model_calls} model call(s), "
            f"{self.prompt_tokens + self.completion_tokens} tokens; saved {self.calls_saved} "
            f"call(s), {self.tokens_saved} tokens; {self.wall_s:.2f} s"
        )
        if self.error:
            text += f"; error: {self.error}"
        return text


@dataclass(frozen=True)
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


def fork_point(
    session: str,
    at_step: int | None,
    db_path: str | os.PathLike[str] | None = None,
    task: Task | None = None,
) -> ForkPoint:
    """Check that `session` (id or unique prefix) is a logged trial with a step `at_step`
    (None: its first failing step) and that its task can rebuild the workspace; one-line
    errors (SessionNotFound, LabError) before anything runs. `task` replaces the logged one."""
    from claw_nb.log.queries import load_messages

    path = resolve_db_path(db_path)
    session_id = store.find_trial_session(path, session)
    original = store.trial_row(path, session_id)
    trajectory = Trajectory(
        session_id, load_messages(path, session_id), store.tool_call_rows(path, session_id)
    )
    step = trajectory.first_failing_step() if at_step is None else at_step
    trajectory.check_step(step)
    return ForkPoint(session_id, step, original, trajectory, task or _logged_task(original))


def fork(
    session: str,
    at_step: int,
    variant: Variant,
    *,
    repeats: int = 1,
    db_path: str | os.PathLike[str] | None = None,
    experiment: str | None = None,
    task: Task | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    unsandboxed: bool | None = None,
    progress: Progress | None = None,
    stop: StopToken | None = None,
) -> list[ForkResult]:
    """Fork the logged trial `session` (id or unique prefix) at step `at_step` under `variant`,
    `repeats` times; each fork is recorded in the log. See the module docstring.

    Defaults come from the original experiment: its model, server and sandboxing. `task`
    replaces the logged task (the same name, say, with an edited environment). `progress`: a
    lab display (`claw_nb.jupyter.lab_view.live_view()` in a notebook)."""
    point = fork_point(session, at_step, db_path, task)
    return run_forks(
        [point],
        variant,
        repeats=repeats,
        db_path=db_path,
        experiment=experiment,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
        progress=progress,
        stop=stop,
    )


def run_forks(
    points: Sequence[ForkPoint],
    variant: Variant,
    *,
    repeats: int = 1,
    db_path: str | os.PathLike[str] | None = None,
    experiment: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    unsandboxed: bool | None = None,
    progress: Progress | None = None,
    on_fork: Callable[[ForkResult], None] | None = None,
    stop: StopToken | None = None,
) -> list[ForkResult]:
    """Fork each point `repeats` times, one after another, each recorded as it ends and handed
    to `on_fork`; the forks that finished (a stopped one is not among them)."""
    check_forkable(variant, repeats)
    path = resolve_db_path(db_path)
    stop = stop if stop is not None else StopToken()
    progress = progress if progress is not None else Progress()
    server = {"model": model, "api_base": api_base, "api_key": api_key}
    plan = _plan(path, points, variant, repeats, experiment, unsandboxed, server)
    if any(not spec.unsandboxed for _, spec in plan):
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    progress.start(plan[0][1].experiment if plan else "forks", len(plan), 0, 1)
    progress.queue([spec.key for _, spec in plan])
    results: list[ForkResult] = []
    try:
        registered = set()
        for point, spec in plan:
            if (spec.experiment, point.session_id) not in registered:
                registered.add((spec.experiment, point.session_id))
                _register(path, spec.experiment, point, variant, spec.unsandboxed, stop)
        for point, spec in plan:
            if stop.stopped:
                break
            result = _fork_one(path, point, spec, progress, stop)
            if result is None:  # cut by the stop
                break
            results.append(result)
            if on_fork is not None:
                on_fork(result)
    except Stopped:  # the stop came while the log was written: nothing ran yet
        pass
    finally:
        progress.end(stop.stopped)
    return results


def check_forkable(variant: Variant, repeats: int) -> None:
    """Refuse what no fork can do, before anything runs."""
    if repeats < 1:
        raise LabError(f"--repeats must be at least 1, got {repeats}")
    if variant.external:
        raise LabError(
            f"variant {variant.name!r} runs a command-line agent, which cannot continue a "
            "logged conversation: fork with a variant of claw_nb's own agent"
        )


def _plan(
    path: Path,
    points: Sequence[ForkPoint],
    variant: Variant,
    repeats: int,
    experiment: str | None,
    unsandboxed: bool | None,
    server: dict[str, str | None],
) -> list[tuple[ForkPoint, TrialSpec]]:
    """Every fork to run, in order, with its trial key: repeats number on from the forks
    already in the log, so a second fork of the same task adds trials, never replaces one.
    Model, server and sandboxing default to the original experiment's."""
    taken: dict[tuple[str, str], int] = {}
    plan = []
    for point in points:
        name = experiment or f"{point.experiment}-forks"
        config = point.original["config"]
        for _ in range(repeats):
            slot = (name, point.task.name)
            if slot not in taken:
                taken[slot] = store.next_repeat(path, name, variant.name, point.task.name)
            repeat, taken[slot] = taken[slot], taken[slot] + 1
            spec = TrialSpec(
                name,
                variant,
                point.task,
                repeat,
                model=server["model"] or config.get("model"),
                api_base=server["api_base"] or config.get("api_base"),
                api_key=server["api_key"],
                unsandboxed=point.unsandboxed if unsandboxed is None else unsandboxed,
                options=dict(config.get("options") or {}),
            )
            plan.append((point, spec))
    return plan


def _fork_one(
    path: Path,
    point: ForkPoint,
    spec: TrialSpec,
    progress: Progress,
    stop: StopToken,
) -> ForkResult | None:
    """Run one fork in a worker thread while this one redraws the display (as the lab's
    runner does), record it; None when a stop cut it (its session is kept, no `trials` row)."""
    from claw_nb.lab.fork.trial import run_fork

    calls_saved, saved_prompt, saved_completion = store.tokens_before(
        path, point.session_id, point.at_step
    )
    pool = ThreadPoolExecutor(1, thread_name_prefix="claw-fork")
    try:
        future = pool.submit(run_fork, spec, point.trajectory, point.at_step, stop, progress.update)
        while True:
            try:
                run = future.result(timeout=TICK_S)
                break
            except FutureTimeout:
                progress.refresh()
    finally:
        pool.shutdown(wait=False)  # a second Ctrl-C does not wait for the fork's safe point
    result, journal = run.outcome.result, run.outcome.journal
    if run.outcome.stopped:
        progress.forget(spec.key)
        _record(path, result, journal, point.session_id, point.at_step, interrupted=True)
        return None
    _record(path, result, journal, point.session_id, point.at_step)
    progress.finished(result)
    progress.refresh()
    return ForkResult(
        session_id=result.session_id,
        forked_from=point.session_id,
        fork_step=point.at_step,
        experiment=spec.experiment,
        variant=spec.variant.name,
        task=spec.task.name,
        repeat=spec.repeat,
        reward=result.reward,
        passed=result.passed,
        stop_reason=result.stop_reason,
        error=result.error,
        replayed=run.replay.replayed,
        skipped=run.replay.skipped,
        divergences=tuple(run.replay.divergences),
        model_calls=run.model_calls,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        first_prompt_tokens=run.first_prompt_tokens,
        wall_s=result.wall_s,
        replay_s=run.replay_s,
        original_reward=float(point.original["reward"] or 0.0),
        original_steps=int(point.original["steps"] or 0),
        calls_saved=calls_saved,
        tokens_saved=saved_prompt + saved_completion,
    )


def _logged_task(original: dict[str, Any]) -> Task:
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
    path: Path, name: str, point: ForkPoint, variant: Variant, unsandboxed: bool, stop: StopToken
) -> None:
    from claw_nb.lab.store import register

    original = point.original
    config = {
        "forks_of": original["experiment"],
        "variants": [variant.name],
        "tasks": [point.task.name],
        "model": original["config"].get("model"),
        "api_base": original["config"].get("api_base"),
        "unsandboxed": unsandboxed,
        "options": original["config"].get("options") or {},
    }
    register(path, name, [point.task], [variant], config, stop=stop)


def _record(
    path: Path,
    result: TrialResult,
    journal: bytes,
    forked_from: str,
    step: int,
    interrupted: bool = False,
) -> None:
    """Record a fork: its trial row (none when `interrupted`: a stop cut it) and, on its
    session, what it forked."""
    from claw_nb.lab.store import record_trials

    if interrupted:
        record_trials(path, [], [(result, journal)])
    else:
        record_trials(path, [(result, journal)])
    if result.session_id:
        store.mark_fork(path, result.session_id, forked_from, step)
