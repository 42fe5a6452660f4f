"""Forking logged trials: the driver. Each fork rebuilds the trial's workspace as it was
before step k, then a variant of the agent takes over from there.

The workspace is the task's environment (as `run_trial` prepares it) plus the logged tool
calls of steps 1..k-1 replayed in order (`claw_nb.lab.fork.replay`, no model calls). The agent
is built exactly as a trial's (`claw_nb.lab.trials`), under the variant's settings, and is
handed the logged conversation up to step k with the variant's system prompt in place of the
original's; it continues without a new user message, its first model call is step k, and its
step budget is what the original had left. The verifier runs as usual. The fork is a trial
of its own experiment (default: the original's name + ``-forks``) and a session whose
``forked_from`` and ``fork_step`` say where it came from.

The driver reads what the forks need from its log (`claw_nb.lab.fork.plan`) and hands each
fork to an executor (`claw_nb.lab.executors`: a local pool, by default the model server's
slots at a time, or a Ray cluster), where `claw_nb.lab.fork.worker.run_fork` runs it. As each
ends, the driver ingests its journal, records its trial and marks its session. A stop ends
the forks as it ends a `lab run`'s trials: queued forks never start, a running local fork ends
`interrupted` and keeps its (marked) session but gets no `trials` row, a Ray fork is cancelled.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.plan import ForkPlan, ForkPlanner, logged_trajectory
from claw_nb.lab.fork.replay import Divergence
from claw_nb.lab.fork.worker import ForkOutcome, run_fork
from claw_nb.lab.tasks import Task
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.stop import CTRL_C, StopToken

STOP_GRACE_S = 30.0  # how long a stop waits for running forks to reach a safe point
TICK_S = 0.2


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
    stop: StopToken | None = None,
    on_result: Callable[[ForkResult], None] | None = None,
) -> list[ForkResult]:
    """Fork the logged trial `session` (id or unique prefix) at step `at_step` under `variant`,
    `repeats` times; each fork is recorded in the log. See the module docstring.

    Defaults come from the original experiment: its model, server and sandboxing. `task`
    replaces the logged task (the same name, say, with an edited environment). `executor`:
    where the forks run (default: a local pool, `claw_nb.lab.executors.local_executor()`);
    `on_result` sees each fork as the driver records it. Returns the finished forks in order
    (fewer when `stop` cut the run)."""
    path = resolve_db_path(db_path)
    session_id = store.find_trial_session(path, session)
    planner = ForkPlanner(
        path,
        variant,
        repeats=repeats,
        experiment=experiment,
        task=task,
        model=model,
        api_base=api_base,
        api_key=api_key,
        unsandboxed=unsandboxed,
    )
    plans = planner.plan(session_id, logged_trajectory(path, session_id), at_step)
    results, _ = run_forks(path, plans, executor=executor, stop=stop, on_result=on_result)
    return results


def run_forks(
    db_path: Path,
    plans: Sequence[ForkPlan],
    *,
    executor: Any = None,
    stop: StopToken | None = None,
    on_result: Callable[[ForkResult], None] | None = None,
) -> tuple[list[ForkResult], bool]:
    """Run the planned forks on `executor` and record each as it ends: (the finished forks in
    plan order, whether a stop cut the run)."""
    stop = StopToken(stop)  # these forks' own: stopping them stops nothing else
    owned = executor is None
    if owned:
        from claw_nb.lab.executors import local_executor

        executor = local_executor()
    stopped = False
    try:
        futures = {
            executor.submit_work(
                run_fork, plan.spec, plan.trajectory, plan.at_step, stop=stop.child()
            ): (index, plan)
            for index, plan in enumerate(plans)
        }
        collector = _Collector(db_path, futures, stop, on_result)
        stopped = collector.until_done()
    except BaseException:
        stop.stop("a fork failed to run")  # the others end at their next safe point
        raise
    finally:
        if owned:
            executor.shutdown(wait=not stopped)
    return [collector.results[i] for i in sorted(collector.results)], stopped


class _Collector:
    """Records the submitted forks as they end (one open of the log per batch)."""

    def __init__(
        self,
        db_path: Path,
        futures: dict[Future, tuple[int, ForkPlan]],
        stop: StopToken,
        on_result: Callable[[ForkResult], None] | None,
    ) -> None:
        self.db_path, self.futures, self.stop, self.on_result = db_path, futures, stop, on_result
        self.results: dict[int, ForkResult] = {}

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
        except KeyboardInterrupt:  # no shell took the Ctrl-C: it stops these forks like a Stop
            self.stop.stop(CTRL_C)
        finally:
            unregister()
        if not pending:
            return False
        for future in pending:
            future.cancel()  # queued: never starts (a fork also checks its token as it starts)
        running = {f for f in pending if not f.cancelled()}
        finished, _ = wait(running, timeout=STOP_GRACE_S)
        self.collect(finished)
        return True

    def collect(self, finished: Iterable[Future]) -> None:
        """Record the forks that ended; a stopped one leaves its session only."""
        from claw_nb.lab.store import record_trials

        done: list[tuple[int, ForkPlan, ForkOutcome]] = []
        interrupted: list[tuple[ForkPlan, ForkOutcome]] = []
        for future in finished:
            index, plan = self.futures[future]
            outcome = self._outcome(future, plan)
            if outcome is None:
                continue
            if outcome.stopped:
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
            result = fork_result(plan, outcome)
            self.results[index] = result
            if self.on_result is not None:
                self.on_result(result)

    def _outcome(self, future: Future, plan: ForkPlan) -> ForkOutcome | None:
        try:
            return future.result(timeout=0)
        except (CancelledError, FutureTimeout):
            return None
        except LabError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a Ray worker lost: the fork is not recorded
            if not self.stop.stopped:  # a stopped Ray fork ends cancelled: that is no failure
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
