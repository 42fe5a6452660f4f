"""One fork, as a worker runs it: rebuild the workspace as it was before step k, then let the
variant's agent take over from there, then verify.

The workspace is the task's environment (as `run_trial` prepares it) plus the logged tool
calls of steps 1..k-1 replayed in order (`claw_nb.lab.fork.replay`, no model calls). The agent
is built exactly as a trial's (`claw_nb.lab.trials`), under the variant's settings, and is
handed the logged conversation up to step k with the variant's system prompt in place of the
original's; it continues without a new user message, its first model call is step k, and its
step budget is what the original had left. The verifier runs as usual, unless a stop cut the
fork (then, as for a trial, the outcome says `stopped` and only its journal is kept).

This is the unit an executor runs (`claw_nb.lab.executors`, in a thread here or as a Ray task
elsewhere). It gets plain data from the driver (`claw_nb.lab.fork.plan`): the trial spec, the
logged trajectory (the conversation and tool-call rows the driver read from its log) and the
step. It never opens the driver's log: the fork's own session goes to a log in its temporary
directory and comes back as journal bytes, which the driver ingests as it does a trial's. What
it trusts is what a trial trusts: the task's folder (copied into a fresh workspace) and the
settings a trial reads there; the logged calls are replayed through the fork agent's tools,
runner and permission policy.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork.replay import Divergence, ReplayReport, replay_calls
from claw_nb.lab.fork.trajectory import Trajectory
from claw_nb.lab.trials import TrialProgress, TrialResult, TrialSpec, verify_unless_stopped
from claw_nb.outcomes import StopReason
from claw_nb.records import record
from claw_nb.stop import StopToken


@record(frozen=True)
class ForkOutcome:
    """What a worker sends back (plain data): the fork's trial result and journal, whether a
    stop cut it (then it gets no `trials` row), what the replay found, and its model calls."""

    result: TrialResult
    journal: bytes
    stopped: bool
    replayed: int
    skipped: int
    divergences: tuple[Divergence, ...]
    model_calls: int
    first_prompt_tokens: int | None  # the prefill of the fork's first request
    replay_s: float


class FirstCall:
    """Listener: the number of model calls and the prompt tokens of the first one."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_prompt_tokens: int | None = None

    def __call__(self, event: Any) -> None:
        if type(event).__name__ == "ModelCallFinished":
            self.calls += 1
            if self.first_prompt_tokens is None and event.prompt_tokens is not None:
                self.first_prompt_tokens = int(event.prompt_tokens)


def run_fork(
    spec: TrialSpec,
    trajectory: Trajectory,
    at_step: int,
    stop: StopToken | None = None,
    on_progress: Callable[[TrialProgress], None] | None = None,
) -> ForkOutcome:
    """One fork end to end in a temporary directory (removed after).

    `stop` is this fork's token: stopped before it starts, nothing runs; stopped while the
    agent works, the agent ends `interrupted`, the verifier does not run and the outcome says
    `stopped` (its journal still comes back). `on_progress` hears its steps and when its
    verifier starts, as a trial's display does (a local worker's; a Ray task has none)."""
    from claw_nb.lab.trials import (
        TrialMeter,
        build_trial_agent,
        judged_result,
        read_journals,
        run_until_timeout,
        trial_result,
    )
    from claw_nb.lab.verify import make_runner, prepare_workspace

    stop = stop if stop is not None else StopToken()
    started = time.monotonic()
    meter, counter = TrialMeter(spec.key, on_progress), FirstCall()
    if stop.stopped:  # queued when its run stopped
        result = trial_result(spec, meter, started, StopReason.INTERRUPTED)
        return ForkOutcome(result, b"", True, 0, 0, (), 0, None, 0.0)
    tmp = Path(tempfile.mkdtemp(prefix="claw-fork-"))
    session_id = uuid.uuid4().hex[:16]
    stop_reason: str = StopReason.ERROR
    error, verdict, tamper = None, None, ()
    stopped = False
    replay, replay_s = ReplayReport(), 0.0
    runner = None
    try:
        workspace = prepare_workspace(spec.task, tmp / "ws")
        runner = make_runner(workspace, unsandboxed=spec.unsandboxed)
        if on_progress is not None:  # it starts where the original left off: step k-1 done
            on_progress(TrialProgress(spec.key, at_step - 1, 0, meter.started))
        agent, log = build_trial_agent(spec, workspace, tmp, runner, meter, session_id, stop)
        agent.subscribe(counter)
        try:
            replay_started = time.monotonic()
            replay = replay_calls(agent, trajectory.calls_before(at_step))
            replay_s = time.monotonic() - replay_started
            agent.context_manager.outcomes.update(replay.outcomes)
            history = trajectory.history_before(at_step)
            history[0] = {"role": "system", "content": agent.system_prompt.text}
            agent.steps = at_step - 1  # the fork's first model call is step k, as in the original
            budget = max(1, agent.config.max_steps - (at_step - 1))
            stop_reason, error = run_until_timeout(
                agent, spec.task, continue_from=history, max_steps=budget
            )
        finally:
            log.close()
        stopped, tamper, verdict = verify_unless_stopped(spec, workspace, runner, meter, stop)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - as a trial: a failed set-up is a result, reward 0
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if runner is not None:
            runner.close()  # its session sandbox, before the workspace goes
        journal = read_journals(tmp / "log.duckdb")
        shutil.rmtree(tmp, ignore_errors=True)
    result = judged_result(
        spec, meter, started, stop_reason, verdict, error, tamper, session_id if journal else None
    )
    return ForkOutcome(
        result,
        journal,
        stopped,
        replay.replayed,
        replay.skipped,
        tuple(replay.divergences),
        counter.calls,
        counter.first_prompt_tokens,
        replay_s,
    )
