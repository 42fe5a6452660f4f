"""An optimizer run as the shells start it: parsed words in, a plan to show, then `run`.

`claw-nb lab optimize compare|sweep|reflect` and `%claw lab optimize ...` both call
:func:`prepare` with the words parsed from `command_options`; it checks the input (one-line
`ConfigError`s: unknown variant file, no tasks, a budget below one round), works out what the
run will cost and whether it resumes an earlier one, and returns an :class:`OptimizerJob`.
The shell shows `job.plan`, asks if it should, and calls `job.run(progress, on_step)`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.plan import format_duration, measured_seconds_per_trial
from claw_nb.lab.optimize.reports import comparison_report, reflect_report
from claw_nb.lab.store import logged_run


@dataclass
class JobOutcome:
    stopped: bool
    report: str
    result: Any  # a Comparison or a ReflectResult


@dataclass
class OptimizerJob:
    """A checked, planned optimizer run, not started yet."""

    kind: str
    name: str
    db_path: Path
    plan: str
    resumed: bool
    start: Callable[[Any, Any], JobOutcome]

    def run(
        self, progress: Any = None, on_step: Callable[[dict[str, Any]], None] | None = None
    ) -> JobOutcome:
        """Run it with this lab progress display and reflect step listener."""
        return self.start(progress, on_step)


def parse_variant(text: str) -> Any:
    """``NAME=FILE.toml`` -> Variant from the file; ``NAME`` -> the defaults under that name."""
    from claw_nb.lab.trials import Variant

    name, sep, file = text.partition("=")
    if not name:
        raise ConfigError(f"variant {text!r}: give NAME=FILE.toml or NAME")
    return Variant.from_file(name, Path(file)) if sep else Variant(name)


def select_tasks(source: str, only: Sequence[str] = ()) -> list[Any]:
    """The suite at `source`, cut to the `only` names; refuses an empty one."""
    from claw_nb.lab.tasks import load_tasks

    tasks = load_tasks(source)
    if only:
        missing = set(only) - {t.name for t in tasks}
        if missing:
            raise ConfigError(f"--only names unknown task(s): {', '.join(sorted(missing))}")
        tasks = [t for t in tasks if t.name in set(only)]
    if not tasks:
        raise ConfigError(f"no tasks in {source!r}: give a suite with at least one task")
    return tasks


def parse_values(text: str) -> tuple[str, list[Any]]:
    """``temperature=0,0.7`` -> ("temperature", [0, 0.7]) (numbers as numbers)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--set {text!r}: write KEY=V1,V2 (e.g. temperature=0,0.7)")

    def value(word: str) -> Any:
        try:
            return json.loads(word)
        except json.JSONDecodeError:
            return word

    return key.strip().replace("-", "_"), [value(w.strip()) for w in values.split(",")]


def parse_fragment(text: str) -> tuple[str, str]:
    """``NAME=TEXT`` or ``NAME=@FILE`` -> (name, text)."""
    name, sep, body = text.partition("=")
    if not sep or not name.strip() or not body:
        raise ConfigError(f"--fragment {text!r}: write NAME=TEXT or NAME=@FILE")
    if body.startswith("@"):
        path = Path(body[1:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"--fragment {name}: file {path} does not exist")
        body = path.read_text(encoding="utf-8")
    return name.strip(), body


def prepare(args: Any, config: Any) -> OptimizerJob:
    """Check and plan `compare`, `sweep` or `reflect` (`args` from the option table).

    `config`: a ClawConfig whose model, server and log are used where the words give none.
    """
    from claw_nb.log.database import resolve_db_path

    verb = args.optimize_command
    tasks = select_tasks(args.tasks, args.only)
    db_path = resolve_db_path(Path(args.db).expanduser() if args.db else config.resolved_db_path)
    run_options = {
        "model": args.model or config.model,
        "api_base": args.api_base or config.api_base,
        "api_key": args.api_key or config.api_key,
        "unsandboxed": args.unsandboxed,
    }
    name = args.name or datetime.now().strftime(f"{verb}-%Y%m%d-%H%M%S")
    previous = logged_run(db_path, name)
    if previous is not None and previous["kind"] != verb:
        raise ConfigError(
            f"run '{name}' is a {previous['kind']} run; pick another --name for this {verb}"
        )
    if verb == "reflect":
        return _prepare_reflect(args, tasks, name, db_path, run_options, previous)
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {args.repeats}")
    if verb == "compare":
        variants = [parse_variant(v) for v in args.variant]
        if len(variants) < 2:
            raise ConfigError("compare needs two or more --variant NAME=FILE.toml (or NAME)")
        baseline = args.baseline or variants[0].name
        if baseline not in [v.name for v in variants]:
            raise ConfigError(f"--baseline {baseline!r} is not one of the variants")
    else:
        from claw_nb.lab.optimize.compare import sweep_variants

        base = parse_variant(args.base)
        grid = dict(parse_values(s) for s in args.set)
        fragments = dict(parse_fragment(f) for f in args.fragment)
        if not grid and not fragments:
            raise ConfigError("sweep needs a --set KEY=V1,V2 or a --fragment NAME=TEXT")
        variants = sweep_variants(base, grid, fragments)
        if len(variants) > args.max_variants:
            raise ConfigError(
                f"the sweep has {len(variants)} variants (cap {args.max_variants}): "
                "narrow it or raise --max-variants"
            )
        baseline = base.name
    plan = _trial_plan(verb, tasks, variants, args.repeats, name, db_path, args.slots, previous)

    def start(progress: Any, on_step: Any) -> JobOutcome:
        from claw_nb.lab.optimize.compare import compare
        from claw_nb.lab.optimize.run_log import RunLog
        from claw_nb.log.database import is_interrupted_query

        log = RunLog(db_path, name)
        config = {
            "variants": [v.name for v in variants],
            "baseline": baseline,
            "repeats": args.repeats,
            "tasks": [t.name for t in tasks],
            "source": str(args.tasks),
        }
        if log.start(verb, config) is not None:  # resuming: the variants may have grown
            log.finish("running", config=config)
        try:
            with _executor(args) as executor:
                cmp = compare(
                    tasks,
                    variants,
                    repeats=args.repeats,
                    baseline=baseline,
                    experiment=name,
                    db_path=db_path,
                    executor=executor,
                    progress=progress,
                    **run_options,
                )
        except BaseException as exc:
            if is_interrupted_query(exc):
                log.finish("stopped")
            raise
        if cmp.experiment.stopped:
            log.finish("stopped")
            return JobOutcome(True, "", cmp)
        log.finish("done", cmp.best().name)
        return JobOutcome(False, comparison_report(cmp), cmp)

    return OptimizerJob(verb, name, db_path, plan, previous is not None, start)


def _trial_plan(
    verb: str,
    tasks: Sequence[Any],
    variants: Sequence[Any],
    repeats: int,
    name: str,
    db_path: Path,
    slots: int | None,
    previous: dict[str, Any] | None,
) -> str:
    from claw_nb.lab import power
    from claw_nb.lab.executors import model_slots

    total = len(variants) * len(tasks) * repeats
    done = _finished_trials(db_path, name, variants, tasks, repeats) if previous else 0
    parallel = slots or model_slots()
    seconds, measured = measured_seconds_per_trial(db_path)
    head = (
        f"{verb} '{name}': {len(variants)} variants x {len(tasks)} tasks x {repeats} repeat(s)"
        f" = {total} trials"
        + (f" ({done} already in the log, {total - done} to run)" if previous else "")
    )
    if seconds is None:
        when = "no trials measured in the log yet, so no time estimate"
    else:
        left = (total - done) * seconds / max(1, parallel)
        when = (
            f"about {format_duration(left)} at {seconds:.1f} s per trial (median of "
            f"{measured} logged trials, {parallel} in parallel)"
        )
    mdd = power.minimum_detectable_difference(len(tasks), repeats)
    return (
        f"{head}; {when}\nsmallest difference this can detect (80% power, 5% two-sided): "
        f"{mdd * 100:.0f} points"
    )


def _finished_trials(
    db_path: Path, name: str, variants: Sequence[Any], tasks: Sequence[Any], repeats: int
) -> int:
    from claw_nb.lab.store import load_results

    names, wanted = {v.name for v in variants}, {t.name for t in tasks}
    return sum(
        1
        for r in load_results(db_path, name)
        if r.variant in names and r.task in wanted and r.repeat < repeats
    )


def _prepare_reflect(
    args: Any,
    tasks: list[Any],
    name: str,
    db_path: Path,
    run_options: dict[str, Any],
    previous: dict[str, Any] | None,
) -> OptimizerJob:
    from claw_nb.lab.optimize.proposals import ReflectionModel
    from claw_nb.lab.optimize.reflect import ReflectOptions, plan_reflect, reflect
    from claw_nb.lab.optimize.split import split_by_names, split_tasks

    options = ReflectOptions(
        budget=args.budget, minibatch=args.minibatch, held_out_repeats=args.held_out_repeats
    )
    if options.minibatch < 1 or options.held_out_repeats < 1:
        raise ConfigError("--minibatch and --held-out-repeats must be at least 1")
    seed = parse_variant(args.seed)
    if previous is not None:  # a resumed run keeps its own split
        names = previous["config"]["split"]
    elif args.split:
        names = _read_split(Path(args.split).expanduser())
    else:
        names = None
    split = (
        split_by_names(tasks, names["train"], names["val"], names["held_out"])
        if names
        else split_tasks(tasks, seed=options.seed)
    )
    if not split.train or not split.val:
        raise ConfigError(f"reflect needs train and validation tasks ({split.summary()})")
    one_round = 2 * len(split.val) + 2 * min(options.minibatch, len(split.train))
    if options.budget < one_round:
        raise ConfigError(
            f"--budget {options.budget} is below one round of the search ({one_round} rollouts:"
            f" the seed and one proposal on {len(split.val)} validation tasks, parent and"
            f" proposal on a minibatch of {min(options.minibatch, len(split.train))})"
        )
    from claw_nb.lab.executors import model_slots

    parallel = args.slots or model_slots()
    plan = plan_reflect(tasks, split=split, options=options, db_path=db_path, parallel=parallel)
    reflection = ReflectionModel(
        args.reflection_model or run_options["model"],
        api_base=args.reflection_api_base or run_options["api_base"],
        api_key=run_options["api_key"],
    )
    if reflection.model == "auto":
        raise ConfigError("reflect needs --reflection-model MODEL (a LiteLLM model string)")
    text = (
        f"reflect '{name}'{' (resuming)' if previous else ''}: {plan}\n"
        f"split {split.summary()}; reflection model {reflection.model}"
    )

    def start(progress: Any, on_step: Any) -> JobOutcome:
        with _executor(args) as executor:
            result = reflect(
                tasks,
                reflection_model=reflection,
                seed=seed,
                components=tuple(args.component) or ("system_prompt",),
                split=split.names(),
                options=options,
                run=name,
                db_path=db_path,
                on_step=on_step,
                executor=executor,
                progress=progress,
                **run_options,
            )
        return JobOutcome(result.stopped, "" if result.stopped else reflect_report(result), result)

    return OptimizerJob("reflect", name, db_path, text, previous is not None, start)


def _read_split(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        raise ConfigError(f"--split: file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--split {path}: {exc}") from None
    missing = [k for k in ("train", "val", "held_out") if not isinstance(data.get(k), list)]
    if missing:
        raise ConfigError(f"--split {path}: needs lists {', '.join(missing)} of task names")
    return {k: [str(n) for n in data[k]] for k in ("train", "val", "held_out")}


class _executor:
    """The trials' executor for one run: local (`--slots`) or Ray (`--ray`), shut down after."""

    def __init__(self, args: Any):
        self.args = args

    def __enter__(self) -> Any:
        from claw_nb.lab.executors import local_executor, ray_executor

        self.executor = (
            ray_executor(self.args.ray) if self.args.ray else local_executor(self.args.slots)
        )
        return self.executor

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(wait=False)
