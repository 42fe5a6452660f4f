"""Forking logged trials: the driver. Plan on the driver, run each fork as a unit of work on
an executor, record on the driver.

The driver checks where to fork and reads everything the forks need from its log
(`claw_nb.lab.fork.plan`), registers the forks' experiment (default: the original's name +
``-forks``), then hands each fork to an executor (`claw_nb.lab.executors`: a local pool, by
default the model server's slots at a time, or a Ray cluster), where
`claw_nb.lab.fork.worker.run_fork` rebuilds the workspace, lets the variant take over and
verifies. As each fork ends, the driver ingests its journal, records its trial and marks its
session (``forked_from``, ``fork_step``), then hands it to `on_fork`.

Like a lab run, the forks show on a lab `Progress` display (queued, running step n, verifying,
passed/failed, stopped, with times; a Ray fork's steps stay on its worker) and stop on a
`StopToken`: queued forks never start, a running local fork ends at its agent's next safe point
and keeps its (marked) session but gets no `trials` row, a Ray fork is cancelled.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.plan import ForkPlan, ForkPoint, fork_point, plan_forks, register_forks
from claw_nb.lab.fork.replay import Divergence
from claw_nb.lab.fork.worker import ForkOutcome, run_fork
from claw_nb.lab.progress import Progress
from claw_nb.lab.tasks import Task
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.records import record
from claw_nb.stop import CTRL_C, Stopped, StopToken

STOP_GRACE_S = 30.0  # how long a stop waits for running forks to reach a safe point
TICK_S = 0.2  # how often a display is redrawn while forks run


@record(frozen=True)
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
    executor: Any = None,
    progress: Progress | None = None,
    on_fork: Callable[[ForkResult], None] | None = None,
    stop: StopToken | None = None,
) -> list[ForkResult]:
    """Fork the logged trial `session` (id or unique prefix) at step `at_step` under `variant`,
    `repeats` times; each fork is recorded in the log. See the module docstring.

    Defaults come from the original experiment: its model, server and sandboxing. `task`
    replaces the logged task (the same name, say, with an edited environment). `executor`:
    where the forks run (default: a local pool, `claw_nb.lab.executors.local_executor()`);
    `progress`: a lab display (`claw_nb.jupyter.lab_view.live_view()` in a notebook);
    `on_fork` sees each fork as the driver records it. Returns the finished forks in order
    (fewer when `stop` cut the run)."""
    point = fork_point(session, at_step, db_path, task)
    forks, _ = run_forks(
        [point],
        variant,
        repeats=repeats,
        db_path=db_path,
        experiment=experiment,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
        executor=executor,
        progress=progress,
        on_fork=on_fork,
        stop=stop,
    )
    return forks


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
    executor: Any = None,
    progress: Progress | None = None,
    on_fork: Callable[[ForkResult], None] | None = None,
    stop: StopToken | None = None,
) -> tuple[list[ForkResult], bool]:
    """Fork each point `repeats` times on `executor`, each recorded as it ends and handed to
    `on_fork`: (the forks that finished, in plan order; whether a stop cut the run)."""
    path = resolve_db_path(db_path)
    plans = plan_forks(
        path,
        points,
        variant,
        repeats=repeats,
        experiment=experiment,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
    )
    stop = StopToken(stop)  # these forks' own: stopping them stops nothing else
    progress = progress if progress is not None else Progress()
    owned = executor is None
    if owned:
        from claw_nb.lab.executors import local_executor

        executor = local_executor()
    name = plans[0].spec.experiment if plans else "forks"
    progress.start(name, len(plans), 0, getattr(executor, "slots", 1))
    progress.queue([plan.spec.key for plan in plans])
    collector = _Collector(path, {}, progress, stop, on_fork)
    stopped = False
    try:
        register_forks(path, plans, variant, stop)
        collector.futures = {
            executor.submit_work(
                run_fork,
                plan.spec,
                plan.trajectory,
                plan.at_step,
                on_progress=progress.update,
                stop=stop.child(),
            ): (index, plan)
            for index, plan in enumerate(plans)
        }
        stopped = collector.until_done()
    except Stopped:  # the stop came while the log was written: nothing ran yet
        stopped = True
    except BaseException:
        stop.stop("a fork failed to run")  # the others end at their next safe point
        raise
    finally:
        if owned:
            executor.shutdown(wait=not stopped)
        progress.end(stopped)
    return [collector.results[i] for i in sorted(collector.results)], stopped


class _Collector:
    """Records the submitted forks as they end (one open of the log per batch), as the lab's
    runner records trials."""

    def __init__(
        self,
        db_path: Path,
        futures: dict[Future, tuple[int, ForkPlan]],
        progress: Progress,
        stop: StopToken,
        on_fork: Callable[[ForkResult], None] | None,
    ) -> None:
        self.db_path, self.futures, self.progress = db_path, futures, progress
        self.stop, self.on_fork = stop, on_fork
        self.results: dict[int, ForkResult] = {}
        self.cut = False  # a fork was cut by the stop (it can end before the wait sees the stop)

    def until_done(self) -> bool:
        """Wait for every fork, recording each; True when a stop came first."""
        pending = set(self.futures)
        woken: Future = Future()  # a stop wakes the wait below at once
        unregister = self.stop.on_stop(lambda: woken.set_result(None))
        try:
            while pending and not self.stop.stopped:
                finished, _ = wait(pending | {woken}, timeout=TICK_S, return_when="FIRST_COMPLETED")
                finished.discard(woken)
                pending -= finished
                self.collect(finished)
                self.progress.refresh()
        except KeyboardInterrupt:  # no shell took the Ctrl-C: it stops these forks like a Stop
            self.stop.stop(CTRL_C)
        finally:
            unregister()
        if not pending:
            return self.cut
        for future in pending:
            future.cancel()  # queued: never starts (a fork also checks its token as it starts)
        running = {f for f in pending if not f.cancelled()}
        finished, _ = wait(running, timeout=STOP_GRACE_S)
        self.collect(finished)
        for future in pending:
            self.progress.forget(self.futures[future][1].spec.key)
        return True

    def collect(self, finished: Iterable[Future]) -> None:
        """Record the forks that ended; a stopped one leaves its (marked) session only."""
        from claw_nb.lab.store import record_trials

        done: list[tuple[int, ForkPlan, ForkOutcome]] = []
        interrupted: list[tuple[ForkPlan, ForkOutcome]] = []
        for future in finished:
            index, plan = self.futures[future]
            outcome = self._outcome(future, plan)
            if outcome is None or outcome.stopped:
                self.progress.forget(plan.spec.key)
                if outcome is not None:  # it ended `interrupted`: its session only
                    self.cut = True
                    if outcome.journal:
                        interrupted.append((plan, outcome))
                continue
            done.append((index, plan, outcome))
        record_trials(
            self.db_path,
            [(o.result, o.journal) for _, _, o in done],
            [(o.result, o.journal) for _, o in interrupted],
        )
        marks = [(p, o) for _, p, o in done] + interrupted
        store.mark_forks(
            self.db_path,
            [(o.result.session_id, p.trajectory.session_id, p.at_step) for p, o in marks],
        )
        for index, plan, outcome in done:
            self.progress.finished(outcome.result)
            result = fork_result(plan, outcome)
            self.results[index] = result
            if self.on_fork is not None:
                self.on_fork(result)

    def _outcome(self, future: Future, plan: ForkPlan) -> ForkOutcome | None:
        try:
            return future.result(timeout=0)
        except (CancelledError, FutureTimeout):
            self.cut = True  # never started, or still running after the stop's grace
            return None
        except LabError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a Ray worker lost: the fork is not recorded
            if self.stop.stopped:  # a stopped Ray fork ends cancelled: that is no failure
                self.cut = True
            else:
                warnings.warn(
                    f"claw_nb lab: the fork of {plan.trajectory.session_id} at step "
                    f"{plan.at_step} failed to run ({type(exc).__name__}: {exc}); it is not "
                    "recorded",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return None


def fork_result(plan: ForkPlan, outcome: ForkOutcome) -> ForkResult:
    """A finished fork, next to its original."""
    result = outcome.result
    return ForkResult(
        session_id=result.session_id,
        forked_from=plan.trajectory.session_id,
        fork_step=plan.at_step,
        experiment=result.experiment,
        variant=result.variant,
        task=result.task,
        repeat=result.repeat,
        reward=result.reward,
        passed=result.passed,
        stop_reason=result.stop_reason,
        error=result.error,
        replayed=outcome.replayed,
        skipped=outcome.skipped,
        divergences=outcome.divergences,
        model_calls=outcome.model_calls,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        first_prompt_tokens=outcome.first_prompt_tokens,
        wall_s=result.wall_s,
        replay_s=outcome.replay_s,
        original_reward=plan.original_reward,
        original_steps=plan.original_steps,
        calls_saved=plan.calls_saved,
        tokens_saved=plan.tokens_saved,
    )
