"""`reflect`: reflective search on the system prompt and tool descriptions, through gepa.

The whole story of a run: split the suite (train / validation / held-out, stratified by
difficulty), say what it will cost before starting, let gepa evolve the texts on train and
select on validation (our adapter runs the trials and guards the proposals), then re-measure
the winner against the seed on held-out tasks with repeats and report the paired statistics.
A gain that does not hold there is reported as not holding.

Stop at any point (stop the `stop` token passed in, as the shells do on Ctrl-C, or kill the
process); calling `reflect` again with the same `run` continues it: gepa resumes from its saved
state and the lab skips trials it has. The token reaches every trial, the reflection call and
gepa's loop (one of its stop callbacks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.adapter import LabAdapter, StepRecorder, candidate_text
from claw_nb.lab.optimize.candidates import (
    SYSTEM_PROMPT,
    candidate_id,
    candidate_variant,
    seed_candidate,
)
from claw_nb.lab.optimize.guards import Guard, TaskText
from claw_nb.lab.optimize.plan import RunPlan, plan_rollouts
from claw_nb.lab.optimize.proposals import ReflectionModel
from claw_nb.lab.optimize.result import ReflectResult
from claw_nb.lab.optimize.run_log import RunLog
from claw_nb.lab.optimize.split import Split, split_by_names, split_tasks
from claw_nb.lab.tamper import counted_reward
from claw_nb.records import record
from claw_nb.stop import CTRL_C, Stopped, StopToken

# gepa stops by itself when this file appears in its run directory (it adds that stopper to
# every run that has one). Not our way to stop: a stale one is removed, and one that appears
# counts as a stop so that a cut search is never reported as finished.
GEPA_STOP_FILE = "gepa.stop"


def run_dir_for(run: str, db_path: Path | None = None) -> Path:
    """gepa's state for `run`: `optimize/<run>/` next to the log file."""
    from claw_nb.log.database import resolve_db_path

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run)
    return resolve_db_path(db_path).parent / "optimize" / safe


class LabTrials:
    """The lab runner bound to a log and the run's options: (tasks, variants, repeats,
    experiment) -> the trial results of exactly those (an `adapter.RunTrials`)."""

    def __init__(self, db_path: Path, run_options: dict[str, Any], stop: StopToken):
        self.db_path, self.run_options, self.stop = db_path, run_options, stop

    def __call__(
        self, tasks: Sequence[Any], variants: Sequence[Any], repeats: int, experiment: str
    ) -> list[Any]:
        from claw_nb.lab.runner import run_experiment

        exp = run_experiment(
            list(tasks),
            list(variants),
            repeats=repeats,
            experiment=experiment,
            db_path=self.db_path,
            stop=self.stop,
            **self.run_options,
        )
        if exp.stopped:  # the scores of a partial run would lie
            raise Stopped(self.stop.reason or f"experiment {experiment!r} stopped before its end")
        names = {v.name for v in variants}
        wanted = {t.name for t in tasks}
        return [r for r in exp.results() if r.variant in names and r.task in wanted]


@record(frozen=True)
class ReflectOptions:
    budget: int = 30  # rollouts gepa may spend on train and validation
    minibatch: int = 3  # train tasks shown to reflection per proposal
    held_out_repeats: int = 3
    max_chars: int | None = None  # cap on a candidate's length (default 3x the seed)
    max_prompt_tokens: int | None = None  # cap on system prompt + tool schemas, in tokens
    tokenizer: str | None = None  # what that cap is counted with (None: tiktoken)
    seed: int = 0
    alpha: float = 0.05


def _quiet_logger() -> Any:
    class Quiet:
        def log(self, message: str) -> None:  # gepa's chatter: the step log is ours
            pass

    return Quiet()


def plan_reflect(
    tasks: Sequence[Any],
    *,
    split: Split | None = None,
    options: ReflectOptions | None = None,
    db_path: Path | None = None,
    parallel: int = 1,
) -> RunPlan:
    """The rollouts a reflect run will spend and the wall time that takes, before starting."""
    options = options or ReflectOptions()
    split = split or split_tasks(tasks, seed=options.seed)
    return plan_rollouts(
        search=options.budget,
        held_out=2 * len(split.held_out) * options.held_out_repeats,
        db_path=db_path,
        parallel=parallel,
    )


def reflect(
    tasks: Sequence[Any],
    *,
    reflection_model: str | ReflectionModel,
    seed: Any = None,
    components: Sequence[str] = (SYSTEM_PROMPT,),
    split: Split | dict[str, Sequence[str]] | None = None,
    fractions: Sequence[float] = (0.4, 0.3, 0.3),
    options: ReflectOptions | None = None,
    run: str | None = None,
    db_path: Path | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    stop: StopToken | None = None,
    **run_options: Any,
) -> ReflectResult:
    """Evolve `components` of the `seed` variant and judge the winner on held-out tasks.

    `run_options` go to the lab runner (model, api_base, api_key, executor, unsandboxed...).
    `on_step` hears the plan, then every proposal (or its rejection by a guard), whether it
    was kept, and every validation score. Stopping `stop` ends the run at its next safe point
    with a result that says `stopped` (the same `run` continues it).
    """
    from claw_nb.lab.variants import Variant
    from claw_nb.log.database import resolve_db_path

    options = options or ReflectOptions()
    db_path = resolve_db_path(db_path)
    if isinstance(reflection_model, str):
        reflection_model = ReflectionModel(reflection_model)
    seed_variant = seed or Variant(name="seed")
    budget = None
    if options.max_prompt_tokens is not None:
        from claw_nb.lab.optimize.budget import BaseRequestCounter, PromptBudget

        budget = PromptBudget(
            options.max_prompt_tokens, BaseRequestCounter(tokenizer=options.tokenizer)
        )
        budget.require(seed_variant, "seed")
    run = run or datetime.now().strftime("reflect-%Y%m%d-%H%M%S")
    steps = RunLog(db_path, run)
    seed_texts = seed_candidate(seed_variant, components)
    split, resumed = _open_run(
        steps, tasks, split, fractions, options, seed_texts, components, reflection_model
    )
    plan = plan_reflect(tasks, split=split, options=options, db_path=db_path)
    if on_step is not None:
        on_step({"status": "plan", "plan": str(plan)})
    stop = StopToken(stop)  # this run's own: a Ctrl-C that reaches it stops this run alone
    run_trials = LabTrials(db_path, run_options, stop)
    training = [TaskText(t.name, t.instruction) for t in split.train]
    guards = {c: Guard.for_seed(seed_texts[c], training, options.max_chars) for c in components}
    adapter = LabAdapter(
        seed_variant=seed_variant,
        run_trials=run_trials,
        experiment=run,
        db_path=db_path,
        guards=guards,
        budget=budget,
        reflection=reflection_model,
        steps=steps,
        stop=stop,
    )
    recorder = StepRecorder(adapter, steps, on_step, resumed=resumed)
    loaded = {"split": split, "seed_texts": seed_texts, "extra": {"plan": plan}}
    comparison = None
    try:
        best = _search(
            adapter, recorder, seed_texts, split, options, run_dir_for(run, db_path), stop
        )
        if best is not None and split.held_out:
            comparison = _held_out(seed_variant, best, split, options, run_trials, run)
    except Stopped:
        best = None
    except KeyboardInterrupt:  # a Ctrl-C no shell took (a plain script): logged, then raised
        stop.stop(CTRL_C)
        _record_stop(steps, adapter, stop)
        raise
    if best is None:
        _record_stop(steps, adapter, stop)
        return ReflectResult.load(run, db_path, best_texts=dict(seed_texts), **loaded)
    if comparison is not None:
        steps.add(
            "held_out",
            candidate=candidate_id(best),
            parent=candidate_id(seed_texts),
            val_score=comparison.diff,
            rollouts=adapter.trials_run,
            reason=comparison.summary(),
            text=candidate_text(best),
        )
    steps.finish("done", candidate_id(best))
    return ReflectResult.load(
        run, db_path, best_texts=best, held_out=comparison, alpha=options.alpha, **loaded
    )


def _record_stop(steps: RunLog, adapter: LabAdapter, stop: StopToken) -> None:
    """The run's last step and status say it stopped, and why."""
    steps.add(
        "stopped",
        reason=f"{stop.reason or 'stop requested'}; call reflect with the same run to go on",
        rollouts=adapter.trials_run,
    )
    steps.finish("stopped")


def _open_run(
    steps: RunLog,
    tasks: Sequence[Any],
    split: Any,
    fractions: Sequence[float],
    options: ReflectOptions,
    seed_texts: dict[str, str],
    components: Sequence[str],
    reflection_model: ReflectionModel,
) -> tuple[Split, bool]:
    """Register a new run, or reopen an existing one with its own split; (split, resumed)."""
    if isinstance(split, dict):
        split = split_by_names(tasks, split["train"], split["val"], split["held_out"])
    split = split or split_tasks(tasks, fractions, seed=options.seed)
    config = {
        "components": list(components),
        "split": split.names(),
        "seed": seed_texts,
        "reflection_model": reflection_model.model,
        "options": options.__dict__,
    }
    previous = steps.start("reflect", config)
    if previous is not None:  # resuming: the run's own split and seed, whatever was passed now
        if previous.get("seed") != seed_texts or previous.get("components") != list(components):
            raise ConfigError(
                f"run '{steps.run}' exists with another seed or components; "
                "pick a new run name or pass the same seed"
            )
        names = previous["split"]
        split = split_by_names(tasks, names["train"], names["val"], names["held_out"])
        steps.finish("running")
    return split.for_search(), previous is not None


def _search(
    adapter: LabAdapter,
    recorder: StepRecorder,
    seed_texts: dict[str, str],
    split: Split,
    options: ReflectOptions,
    run_dir: Path,
    stop: StopToken,
) -> dict[str, str] | None:
    """gepa's loop over our adapter; the best candidate on validation, or None if stopped.

    gepa looks at `stop` between its iterations; within one, the trials and the reflection
    call look at it themselves (they raise `Stopped`)."""
    try:
        import gepa
    except ImportError:
        raise ConfigError(
            "reflect needs the gepa package: pip install gepa==0.1.4 (or pip install -e '.[optimize]' in a claw_nb checkout)"
        ) from None
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / GEPA_STOP_FILE).unlink(missing_ok=True)
    result = gepa.optimize(
        seed_candidate=seed_texts,
        trainset=list(split.train),
        valset=list(split.val),
        adapter=adapter,
        candidate_selection_strategy="pareto",
        reflection_minibatch_size=min(options.minibatch, len(split.train)),
        max_metric_calls=options.budget,
        run_dir=str(run_dir),
        cache_evaluation=False,  # 0.1.4's cache mixes train and validation ids
        seed=options.seed,
        callbacks=[recorder],
        stop_callbacks=[lambda _state: stop.stopped],
        logger=_quiet_logger(),
        raise_on_exception=True,
        display_progress_bar=False,
        track_best_outputs=False,
        skip_perfect_score=True,
        perfect_score=1.0,
        module_selector="round_robin",
    )
    if stop.stopped or (run_dir / GEPA_STOP_FILE).exists():
        return None
    return dict(result.best_candidate)


def _held_out(
    seed_variant: Any,
    best: dict[str, str],
    split: Split,
    options: ReflectOptions,
    run_trials: Any,
    run: str,
) -> Any:
    """Seed against winner on the held-out tasks, with repeats, paired by task."""
    from claw_nb.lab.statistics import compare_variants

    seed_v = candidate_variant(seed_variant, seed_candidate(seed_variant, list(best)), "seed")
    winner = candidate_variant(seed_variant, best, "winner")
    results = run_trials(
        list(split.held_out), [seed_v, winner], options.held_out_repeats, f"{run}/held-out"
    )
    # a trial the tamper report flagged counts as failed here too (see counted_reward)
    results = [
        dataclasses.replace(r, reward=counted_reward(r), passed=False)
        if getattr(r, "tamper", ())
        else r
        for r in results
    ]
    return compare_variants(results, "seed", "winner", seed=options.seed).attrs["comparison"]
