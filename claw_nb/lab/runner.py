"""Running an experiment: every variant on every task, ``repeats`` times, resumable.

The driver registers the experiment in the log, skips the (variant, task, repeat) keys already
finished, submits the rest to an executor (a local pool by default) and, as each trial ends,
ingests its journal and records its row. A stop (``stop=token``, stopped by a shell's Ctrl-C
or Stop, or a Ctrl-C that reaches the runner itself) ends the run cleanly: queued trials never
start, running ones end ``interrupted`` and leave their sessions but no ``trials`` row, so
running the same experiment again picks up exactly what is missing. Each run stops through its
own token, so two runs in one process never stop each other.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError, LabError
from claw_nb.lab.experiment import Experiment
from claw_nb.lab.progress import Progress
from claw_nb.lab.store import record_trials, register
from claw_nb.lab.tasks import Task, load_tasks
from claw_nb.lab.trials import TrialOutcome, TrialResult, TrialSpec
from claw_nb.lab.variants import Variant
from claw_nb.log.database import resolve_db_path
from claw_nb.stop import CTRL_C, Stopped, StopToken

STOP_GRACE_S = 30.0  # how long a stop waits for running trials to reach a safe point
TICK_S = 0.2


def run_experiment(
    tasks: Sequence[Task] | str | os.PathLike[str] | Any,
    variants: Sequence[Variant] | Variant | Mapping[str, Any],
    *,
    repeats: int = 1,
    experiment: str | None = None,
    db_path: str | os.PathLike[str] | None = None,
    executor: Any = None,
    unsandboxed: bool = False,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    progress: Progress | None = None,
    options: Mapping[str, Any] | None = None,
    stop: StopToken | None = None,
) -> Experiment:
    """Run (or resume) an experiment and return it; see the module docstring.

    ``tasks``: Task objects or anything :func:`~claw_nb.lab.tasks.load_tasks` reads
    (``"builtin"``, a directory, a JSON/YAML file). ``variants``: Variant objects, or a mapping
    name -> TOML path / dict of overrides. ``options``: other `ClawConfig` settings for every
    trial (e.g. ``{"stream": False}``). ``stop``: the caller's token; stopping it stops this
    run (``Experiment.stopped`` says so).
    """
    task_list = _tasks(tasks)
    variant_list = _variants(variants)
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    _check_agents(variant_list, api_base)
    if not unsandboxed:
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    name = experiment or time.strftime("exp-%Y%m%d-%H%M%S")
    path = resolve_db_path(db_path)
    config = {
        "repeats": repeats,
        "model": model,
        "api_base": api_base,
        "unsandboxed": unsandboxed,
        "variants": [v.name for v in variant_list],
        "tasks": [t.name for t in task_list],
        "options": dict(options or {}),
    }
    stop = StopToken(stop)  # this run's own: a Ctrl-C that reaches the runner stops it alone
    try:
        done = register(path, name, task_list, variant_list, config, stop=stop)
    except Stopped:
        return Experiment(name, path, stopped=True)
    specs = [
        TrialSpec(
            name,
            variant,
            task,
            repeat,
            model=model,
            api_base=api_base,
            api_key=api_key,
            unsandboxed=unsandboxed,
            options=dict(options or {}),
        )
        for repeat in range(repeats)
        for task in task_list
        for variant in variant_list
    ]
    pending_specs = [s for s in specs if s.key not in done]
    owned = executor is None
    if owned:
        from claw_nb.lab.executors import local_executor

        executor = local_executor()
    progress = progress or Progress()
    progress.start(name, len(specs), len(specs) - len(pending_specs), getattr(executor, "slots", 1))
    progress.queue([s.key for s in pending_specs])
    stopped = False
    try:
        futures = {
            executor.submit(spec, progress.update, stop.child()): spec for spec in pending_specs
        }
        stopped = _collect_until_done(futures, path, progress, stop)
    finally:
        if owned:
            executor.shutdown(wait=not stopped)
        progress.end(stopped)
    return Experiment(name, path, stopped=stopped)


def run(tasks: Any = "builtin", variants: Any = None, **kwargs: Any) -> Experiment:
    """`run_experiment` with friendly defaults: the built-in suite, the default agent."""
    return run_experiment(
        tasks, variants if variants is not None else [Variant("default")], **kwargs
    )


def _collect_until_done(
    futures: dict[Future, TrialSpec], path: Path, progress: Progress, stop: StopToken
) -> bool:
    """Record the submitted trials as they end; True when stopped before the end."""
    pending = set(futures)
    cut = False  # a trial was cut by the stop (it can end before the wait sees the stop)
    woken: Future = Future()  # a stop wakes the wait below at once
    unregister = stop.on_stop(lambda: woken.set_result(None))
    try:
        while pending and not stop.stopped:
            finished, _ = wait(pending | {woken}, timeout=TICK_S, return_when="FIRST_COMPLETED")
            finished.discard(woken)
            pending -= finished
            try:
                cut = _collect(finished, futures, path, progress, stop) or cut
            except KeyboardInterrupt:
                pending |= finished  # a Ctrl-C inside the write: record these on the way out
                raise
            progress.refresh()
    except KeyboardInterrupt:  # no shell took the Ctrl-C: it stops this run like a Stop
        stop.stop(CTRL_C)
    finally:
        unregister()
    if not pending:
        return cut
    for future in pending:
        future.cancel()  # queued: never starts (a trial also checks its token as it starts)
    running = {f for f in pending if not f.cancelled()}
    finished, _ = wait(running, timeout=STOP_GRACE_S)
    _collect(finished, futures, path, progress, stop)
    for future in pending:
        progress.forget(futures[future].key)
    return True


def _collect(
    finished: Iterable[Future],
    futures: dict[Future, TrialSpec],
    path: Path,
    progress: Progress,
    stop: StopToken,
) -> bool:
    """Record the trials that ended (one open of the log for the lot); the interrupted ones
    leave their sessions only. True when one of them was cut by the stop."""
    batch: list[tuple[TrialResult, bytes]] = []
    interrupted: list[tuple[TrialResult, bytes]] = []
    cut = False
    for future in finished:
        spec = futures[future]
        try:
            outcome: TrialOutcome = future.result(timeout=0)
        except (CancelledError, FutureTimeout):
            progress.forget(spec.key)
            cut = True
            continue
        except LabError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a Ray worker lost: not recorded, redone on resume
            progress.forget(spec.key)
            cut = cut or stop.stopped
            if not stop.stopped:  # a stopped run's Ray tasks end cancelled: that is no failure
                import warnings

                warnings.warn(
                    f"claw_nb lab: trial {spec.key} failed to run ({type(exc).__name__}: "
                    f"{exc}); it is not recorded and a resumed run retries it",
                    RuntimeWarning,
                    stacklevel=2,
                )
            continue
        if outcome.stopped:
            progress.forget(spec.key)
            cut = True
            if outcome.journal:
                interrupted.append((outcome.result, outcome.journal))
            continue
        batch.append((outcome.result, outcome.journal))
    record_trials(path, batch, interrupted)
    for result, _ in batch:
        progress.finished(result)
    return cut


def _check_agents(variants: Sequence[Variant], api_base: str | None) -> None:
    """Refuse up front a command-line agent that is not installed, or has no server to reach."""
    from claw_nb.lab.external_agent import check_command

    for variant in variants:
        if variant.external:
            check_command(variant)
            if not api_base:
                raise ConfigError(
                    f"variant {variant.name!r} runs an outside agent: give the model server's "
                    "address (api_base / --api-base), which the lab's recording proxy forwards to"
                )


def _tasks(tasks: Any) -> list[Task]:
    if isinstance(tasks, Task):
        return [tasks]
    if isinstance(tasks, (list, tuple)) and all(isinstance(t, Task) for t in tasks):
        out = list(tasks)
    else:
        out = load_tasks(tasks)
    if not out:
        raise ConfigError("no tasks to run")
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"task names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}"
        )
    return out


def _variants(variants: Any) -> list[Variant]:
    if isinstance(variants, Variant):
        out = [variants]
    elif isinstance(variants, Mapping):
        out = []
        for vname, spec in variants.items():
            if isinstance(spec, Variant):
                out.append(spec)
            elif isinstance(spec, Mapping):
                out.append(Variant.from_dict(str(vname), spec))
            else:
                out.append(Variant.from_file(str(vname), Path(spec)))
    else:
        out = [v if isinstance(v, Variant) else Variant(str(v)) for v in variants]
    if not out:
        raise ConfigError(
            "no variants to run: give at least one (Variant('default') is the agent's defaults)"
        )
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must be unique, got {names}")
    return out
