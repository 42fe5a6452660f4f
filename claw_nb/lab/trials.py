"""One trial: a variant of the agent on one task, in a fresh workspace, sandbox and timeout.

A trial = (experiment, variant, task, repeat). :func:`run_trial` is what an executor runs,
locally or on a Ray worker: it copies the task into a new temporary workspace, builds the
agent through `claw_nb.api.build_agent` (mode ``auto``) with the variant's overrides, stops it
at the task's timeout, runs the verifier in the same sandbox, and returns the result together
with the session's journal as bytes. The driver ingests that journal into its own DuckDB log,
so no two processes ever share a database file.

A variant with an ``agent_command`` runs a command-line agent instead, in the same workspace,
sandbox and timeout, its tokens counted by a recording proxy (`claw_nb.lab.external_agent`);
such a trial has no journal (its session is the agent's own business).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError
from claw_nb.lab.tasks import Task
from claw_nb.lab.trial_meter import TrialMeter
from claw_nb.lab.trial_records import (
    TrialOutcome,
    TrialProgress,
    TrialResult,
    TrialSpec,
)
from claw_nb.outcomes import StopReason
from claw_nb.stop import StopToken


def run_trial(
    spec: TrialSpec,
    on_progress: Callable[[TrialProgress], None] | None = None,
    stop: StopToken | None = None,
) -> TrialOutcome:
    """Run one trial end to end in a temporary directory, removed afterwards.

    `stop` is this trial's token (a child of its run's): stopped before the trial starts, it
    never starts; stopped while the agent works, the agent ends `interrupted`, the verifier
    does not run and the outcome says `stopped` (its journal still comes back)."""
    from claw_nb.lab.verify import make_runner, prepare_workspace

    stop = stop if stop is not None else StopToken()
    started = time.monotonic()
    meter = TrialMeter(spec.key, on_progress)
    if stop.stopped:  # queued when its run stopped
        return TrialOutcome(trial_result(spec, meter, started, StopReason.INTERRUPTED), b"", True)
    tmp = Path(tempfile.mkdtemp(prefix="claw-trial-"))
    session_id = uuid.uuid4().hex[:16]
    stop_reason: str = StopReason.ERROR
    error, verdict = None, None
    stopped = False
    tamper: tuple[str, ...] = ()
    runner = None
    try:
        workspace = prepare_workspace(spec.task, tmp / "ws")
        runner = make_runner(workspace, unsandboxed=spec.unsandboxed)
        if on_progress is not None:
            on_progress(TrialProgress(spec.key, 0, 0, meter.started))
        if spec.variant.external:
            stop_reason, error = _run_external(spec, workspace, tmp, stop, meter)
        else:
            agent, log = build_trial_agent(spec, workspace, tmp, runner, meter, session_id, stop)
            try:
                stop_reason, error = run_until_timeout(agent, spec.task)
            finally:
                log.close()
        stopped, tamper, verdict = verify_unless_stopped(spec, workspace, runner, meter, stop)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - setting up the trial failed: a result with reward 0
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if runner is not None:
            runner.close()  # its session sandbox shows the workspace removed next
        journal = read_journals(tmp / "log.duckdb")
        shutil.rmtree(tmp, ignore_errors=True)
    result = judged_result(
        spec, meter, started, stop_reason, verdict, error, tamper, session_id if journal else None
    )
    return TrialOutcome(result, journal, stopped)


def verify_unless_stopped(
    spec: TrialSpec, workspace: Path, runner: Any, meter: TrialMeter, stop: StopToken
) -> tuple[bool, tuple[str, ...], Any]:
    """(stopped, tamper findings, verdict) once the agent has ended: a stopped trial is not
    verified; any other gets the tamper report and the verifier, in its sandbox. A trial and a
    fork end through this one place."""
    if stop.stopped:
        return True, (), None
    from claw_nb.lab.tamper import tamper_report
    from claw_nb.lab.verify import run_verifier

    meter.verifying()
    return False, tamper_report(spec.task, workspace), run_verifier(spec.task, workspace, runner)


def judged_result(
    spec: TrialSpec,
    meter: TrialMeter,
    started: float,
    stop_reason: str,
    verdict: Any,
    error: str | None,
    tamper: Any,
    session_id: str | None,
) -> TrialResult:
    """A finished trial's (or fork's) result: the verifier's reward and output, its error
    joined to the run's, the tamper report."""
    if verdict is not None and verdict.error:
        error = f"{error}; verifier: {verdict.error}" if error else f"verifier: {verdict.error}"
    return trial_result(
        spec,
        meter,
        started,
        stop_reason,
        reward=verdict.reward if verdict is not None else 0.0,
        session_id=session_id,
        error=error,
        verifier_output=verdict.output if verdict is not None else "",
        tamper=tamper,
    )


def _run_external(
    spec: TrialSpec, workspace: Path, tmp: Path, stop: StopToken, meter: TrialMeter
) -> tuple[str, str | None]:
    """(stop reason, error) of a command-line agent's run; its calls land in ``meter``."""
    from claw_nb.lab.external_agent import run_external_agent

    run = run_external_agent(spec, workspace, tmp, stop, on_call=meter.model_call)
    # the proxy's totals are the record (the meter saw the same calls, as they came)
    meter.steps, meter.prompt_tokens, meter.completion_tokens = (
        run.calls,
        run.prompt_tokens,
        run.completion_tokens,
    )
    return run.stop_reason, run.error


def run_until_timeout(agent: Any, task: Task, **run_options: Any) -> tuple[str, str | None]:
    """(stop reason, error) of the agent's run, stopped at the task's timeout if it gets there.

    The timeout stops the agent's own token, not the trial's: the trial still counts.
    `run_options` go to `Agent.run` (a fork's `continue_from` and `max_steps`)."""
    deadline_hit = threading.Event()

    def on_deadline() -> None:
        deadline_hit.set()
        agent.interrupt()

    timer = threading.Timer(task.agent_timeout_sec, on_deadline)
    timer.daemon = True
    timer.start()
    try:
        run = agent.run(task.instruction, mode="auto", **run_options)
        stop_reason, error = run.stop_reason, run.error
    except Exception as exc:  # noqa: BLE001 - one trial's failure is its result, not a crash
        stop_reason, error = StopReason.ERROR, f"{type(exc).__name__}: {exc}"
    finally:
        timer.cancel()
    if deadline_hit.is_set():
        note = f"agent stopped at the task's timeout ({task.agent_timeout_sec:g} s)"
        return StopReason.TIMEOUT, f"{note}; {error}" if error else note
    return stop_reason, error


def trial_result(
    spec: TrialSpec,
    meter: TrialMeter,
    started: float,
    stop_reason: str,
    *,
    reward: float = 0.0,
    session_id: str | None = None,
    error: str | None = None,
    verifier_output: str = "",
    tamper: tuple[str, ...] = (),
) -> TrialResult:
    return TrialResult(
        experiment=spec.experiment,
        variant=spec.variant.name,
        task=spec.task.name,
        repeat=spec.repeat,
        reward=reward,
        passed=reward >= 1.0,
        stop_reason=stop_reason,
        steps=meter.steps,
        prompt_tokens=meter.prompt_tokens,
        completion_tokens=meter.completion_tokens,
        wall_s=time.monotonic() - started,
        tool_errors=meter.tool_errors,
        prefill_tokens=meter.prefill_tokens,
        model_s=meter.model_s,
        cache_breaks=meter.cache_breaks,
        session_id=session_id,
        error=error,
        verifier_output=verifier_output,
        tamper=tamper,
    )


def build_trial_agent(
    spec: TrialSpec,
    workspace: Path,
    tmp: Path,
    runner: Any,
    meter: TrialMeter,
    session_id: str,
    stop: StopToken,
) -> tuple[Any, Any]:
    from claw_nb.api import build_agent
    from claw_nb.config import load_config
    from claw_nb.log.event_log import EventLog

    variant = spec.variant
    options: dict[str, Any] = dict(spec.options)
    options.update(
        model=variant.model or spec.model,
        api_base=spec.api_base,
        api_key=spec.api_key,
        db_path=tmp / "log.duckdb",
        checkpoints=False,  # a trial's workspace is thrown away: nothing to rewind
    )
    for key in ("temperature", "max_steps", "context_window", "max_tool_result_chars"):
        if getattr(variant, key) is not None:
            options[key] = getattr(variant, key)
    timeout = spec.task.agent_timeout_sec
    options["request_timeout"] = min(float(options.get("request_timeout", 600.0)), timeout)
    options["command_timeout"] = min(float(options.get("command_timeout", 120.0)), timeout)
    if variant.system_prompt is not None:
        prompt_file = tmp / "prompts" / f"{variant.name}.md"
        prompt_file.parent.mkdir(parents=True, exist_ok=True)
        prompt_file.write_text(variant.system_prompt, encoding="utf-8")
        options["prompt_name"] = str(prompt_file)
    config = load_config(workspace, **options)
    log = EventLog(config.resolved_db_path, ingest_at_end=False)
    agent, log = build_agent(
        config,
        mode="auto",
        approver=_approve if spec.unsandboxed else _deny,
        approver_name="the lab (--unsandboxed)" if spec.unsandboxed else "nobody (lab trial)",
        listeners=[meter],
        session_id=session_id,
        log=log,
        runner=runner,
        tools=variant.tool_registry(),
        subagents=False,  # a trial measures one agent's prompt and tools
        hooks=False,  # the task's folder is its author's: no hook of theirs runs on the host
        stop=stop,
    )
    return agent, log


def _approve(request: Any) -> str:
    """Unsandboxed trials were asked for explicitly: their commands run without asking."""
    return "yes"


_approve.automatic = True  # a trial has no person: a quoted call is refused


def _deny(request: Any) -> str:
    return "no"


_deny.automatic = True


def read_journals(db_path: Path) -> bytes:
    from claw_nb.log.journal_paths import journal_dir
    from claw_nb.log.journal_reader import list_journals

    return b"".join(p.read_bytes() for p in list_journals(journal_dir(db_path)))
