"""Forking a logged trial: rebuild its workspace as it was before step k, then let a variant
of the agent take over from there.

The workspace is the task's environment (as `run_trial` prepares it) plus the logged tool
calls of steps 1..k-1 replayed in order (`claw_nb.lab.fork.replay`, no model calls). The agent
is built exactly as a trial's (`claw_nb.lab.trials`), under the variant's settings, and is
handed the logged conversation up to step k with the variant's system prompt in place of the
original's; it continues without a new user message, its first model call is step k, and its
step budget is what the original had left. The verifier runs as usual. The fork is a trial
of its own experiment (default: the original's name + ``-forks``) and a session whose
``forked_from`` and ``fork_step`` say where it came from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.fork import store
from claw_nb.lab.fork.replay import Divergence, ReplayReport, replay_calls
from claw_nb.lab.fork.trajectory import Trajectory
from claw_nb.lab.tasks import Task
from claw_nb.lab.trials import TrialResult, TrialSpec
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.outcomes import StopReason
from claw_nb.stop import StopToken


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


class _FirstCall:
    """Listener: the number of model calls and the prompt tokens of the first one."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_prompt_tokens: int | None = None

    def __call__(self, event: Any) -> None:
        if type(event).__name__ == "ModelCallFinished":
            self.calls += 1
            if self.first_prompt_tokens is None and event.prompt_tokens is not None:
                self.first_prompt_tokens = int(event.prompt_tokens)


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
    stop: StopToken | None = None,
) -> list[ForkResult]:
    """Fork the logged trial `session` (id or unique prefix) at step `at_step` under `variant`,
    `repeats` times; each fork is recorded in the log. See the module docstring.

    Defaults come from the original experiment: its model, server and sandboxing. `task`
    replaces the logged task (the same name, say, with an edited environment)."""
    from claw_nb.log.queries import load_messages

    if repeats < 1:
        raise LabError(f"repeats must be at least 1, got {repeats}")
    path = resolve_db_path(db_path)
    session_id = store.find_trial_session(path, session)
    original = store.trial_row(path, session_id)
    trajectory = Trajectory(
        session_id, load_messages(path, session_id), store.tool_call_rows(path, session_id)
    )
    trajectory.check_step(at_step)
    task = task or _logged_task(original)
    config = original["config"]
    if unsandboxed is None:
        unsandboxed = bool(config.get("unsandboxed"))
    if not unsandboxed:
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    name = experiment or f"{original['experiment']}-forks"
    _register(path, name, task, variant, original, unsandboxed)
    calls_saved, saved_prompt, saved_completion = store.tokens_before(path, session_id, at_step)
    results = []
    for _ in range(repeats):
        repeat = store.next_repeat(path, name, variant.name, task.name)
        spec = TrialSpec(
            name,
            variant,
            task,
            repeat,
            model=model or config.get("model"),
            api_base=api_base or config.get("api_base"),
            api_key=api_key,
            unsandboxed=unsandboxed,
            options=dict(config.get("options") or {}),
        )
        result, journal, replay, counter, replay_s = run_fork(spec, trajectory, at_step, stop=stop)
        _record(path, result, journal, session_id, at_step)
        results.append(
            ForkResult(
                session_id=result.session_id,
                forked_from=session_id,
                fork_step=at_step,
                experiment=name,
                variant=variant.name,
                task=task.name,
                repeat=repeat,
                reward=result.reward,
                passed=result.passed,
                stop_reason=result.stop_reason,
                error=result.error,
                replayed=replay.replayed,
                skipped=replay.skipped,
                divergences=tuple(replay.divergences),
                model_calls=counter.calls,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                first_prompt_tokens=counter.first_prompt_tokens,
                wall_s=result.wall_s,
                replay_s=replay_s,
                original_reward=float(original["reward"] or 0.0),
                original_steps=int(original["steps"] or 0),
                calls_saved=calls_saved,
                tokens_saved=saved_prompt + saved_completion,
            )
        )
        if stop is not None and stop.stopped:
            break
    return results


def run_fork(
    spec: TrialSpec, trajectory: Trajectory, at_step: int, stop: StopToken | None = None
) -> tuple[TrialResult, bytes, ReplayReport, _FirstCall, float]:
    """One fork end to end in a temporary directory (removed after): (its trial result, its
    journal, the replay's report, its model-call counter, seconds spent replaying)."""
    from claw_nb.lab.tamper import tamper_report
    from claw_nb.lab.trials import (
        TrialMeter,
        build_trial_agent,
        judged_result,
        read_journals,
        run_until_timeout,
    )
    from claw_nb.lab.verify import make_runner, prepare_workspace, run_verifier

    stop = stop if stop is not None else StopToken()
    started = time.monotonic()
    meter, counter = TrialMeter(spec.key, None), _FirstCall()
    tmp = Path(tempfile.mkdtemp(prefix="claw-fork-"))
    session_id = uuid.uuid4().hex[:16]
    stop_reason: str = StopReason.ERROR
    error, verdict, tamper = None, None, ()
    replay, replay_s = ReplayReport(), 0.0
    runner = None
    try:
        workspace = prepare_workspace(spec.task, tmp / "ws")
        runner = make_runner(workspace, unsandboxed=spec.unsandboxed)
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
        if not stop.stopped:
            tamper = tamper_report(spec.task, workspace)
            verdict = run_verifier(spec.task, workspace, runner)
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
    return result, journal, replay, counter, replay_s


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


def _record(path: Path, result: TrialResult, journal: bytes, forked_from: str, step: int) -> None:
    from claw_nb.lab.store import record_trials

    record_trials(path, [(result, journal)])
    if result.session_id:
        store.mark_fork(path, result.session_id, forked_from, step)
