"""`lab optimize compare|sweep|reflect` for both shells: words in, a checked plan, then the run.

`claw-nb lab optimize ...` (claw_nb.cli.lab_optimize) and `%claw lab optimize ...`
(claw_nb.jupyter.lab_optimize) parse their words with the table in `command_options`, call
:func:`prepare` for a :class:`Job` (its inputs checked, its cost said in `job.plan`), show the
plan, ask if they should, and call `job.run(progress, on_step, stop)` with the command's stop
token (stopped on Ctrl-C or a kernel interrupt). They only parse and print.

Every input is checked once, by one function (the API's own where the API takes it too):

- the sweep's size: `compare.sweep_variants(..., max_variants)` (`sweep()` passes its cap too);
- the split: `Split.for_search()` (`reflect()` calls it too);
- the baseline: `compare.check_variants` (`compare()` calls it too);
- what only the command takes (variant and split files, `--set`, `--fragment`, `--repeats`,
  the budget against one round of the search, a run name of another kind): here, in `prepare`.

`lab optimize compare` reaches a trial in 5 calls through 4 files:

1. `cli/lab_optimize.run_optimize_command` -> `optimize/command.TrialsJob.run`
2. `TrialsJob.run` -> `lab/runner.run_experiment`
3. `run_experiment` -> `lab/executors.LocalExecutor.submit`
4. `LocalExecutor.submit` -> the thread pool's `submit`
5. the pool -> `lab/trials.run_trial`
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from claw_nb.errors import ConfigError
from claw_nb.lab.command import parse_variant, select_tasks, trial_executor
from claw_nb.lab.optimize.command_options import canonical_verb
from claw_nb.lab.optimize.command_words import parse_fragment, parse_values, read_split
from claw_nb.records import record
from claw_nb.stop import StopToken

RunVerb = Literal["compare", "sweep", "reflect"]


@record(frozen=True)
class Job(ABC):
    """A checked, planned optimizer run, not started yet."""

    kind: RunVerb
    name: str
    db_path: Path
    plan: str
    resumed: bool
    tasks: tuple[Any, ...]
    run_options: dict[str, Any]  # model, api_base, api_key, unsandboxed
    ray: str | None
    slots: int | None
    tokenizer: str | None  # what prompt budgets and base requests are counted with

    @abstractmethod
    def run(
        self,
        progress: Any = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        stop: StopToken | None = None,
    ) -> JobOutcome:
        """Run it with this lab progress display and reflect step listener until done, or
        until `stop` stops (then the outcome says `stopped` and the same name resumes)."""


@record(frozen=True)
class TrialsJob(Job):
    """A compare or a sweep: every variant on every task, `repeats` times."""

    variants: tuple[Any, ...]
    baseline: str
    repeats: int
    source: str
    max_prompt_tokens: int | None = None
    refused: tuple[tuple[str, str], ...] = ()  # (variant, why): over the budget, not run

    def run(
        self,
        progress: Any = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        stop: StopToken | None = None,
    ) -> JobOutcome:
        """Run every variant on every task with this lab progress display (`on_step`: unused,
        a compare or sweep has no steps)."""
        from claw_nb.lab.optimize.compare import Comparison
        from claw_nb.lab.optimize.reports import comparison_report
        from claw_nb.lab.optimize.run_log import RunLog
        from claw_nb.lab.runner import run_experiment

        log = RunLog(self.db_path, self.name)
        config = {
            "variants": [v.name for v in self.variants],
            "baseline": self.baseline,
            "repeats": self.repeats,
            "tasks": [t.name for t in self.tasks],
            "source": self.source,
        }
        if log.start(self.kind, config) is not None:  # resuming: the variants may have grown
            log.finish("running", config=config)
        try:
            with trial_executor(self.ray, self.slots) as executor:
                experiment = run_experiment(
                    list(self.tasks),
                    list(self.variants),
                    repeats=self.repeats,
                    experiment=self.name,
                    db_path=self.db_path,
                    executor=executor,
                    progress=progress,
                    stop=stop,
                    **self.run_options,
                )
        except KeyboardInterrupt:  # a second Ctrl-C: the run did not wait to stop cleanly
            log.finish("stopped")
            raise
        cmp = Comparison(
            experiment,
            list(self.variants),
            self.baseline,
            self.repeats,
            list(self.tasks),
            tokenizer=self.tokenizer,
            max_prompt_tokens=self.max_prompt_tokens,
            refused=list(self.refused),
        )
        if experiment.stopped:
            log.finish("stopped")
            return JobOutcome(True, "", cmp)
        log.finish("done", cmp.best().name)
        return JobOutcome(False, comparison_report(cmp), cmp)


@record(frozen=True)
class ReflectJob(Job):
    """A reflect run: the seed's components evolved on `split`."""

    seed: Any
    components: tuple[str, ...]
    split: Any  # optimize.split.Split
    options: Any  # optimize.reflect.ReflectOptions
    reflection: Any  # optimize.proposals.ReflectionModel

    def run(
        self,
        progress: Any = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        stop: StopToken | None = None,
    ) -> JobOutcome:
        """Run the search with this lab progress display; `on_step` hears its steps."""
        from claw_nb.lab.optimize.reflect import reflect
        from claw_nb.lab.optimize.reports import reflect_report

        with trial_executor(self.ray, self.slots) as executor:
            result = reflect(
                list(self.tasks),
                reflection_model=self.reflection,
                seed=self.seed,
                components=self.components,
                split=self.split.names(),
                options=self.options,
                run=self.name,
                db_path=self.db_path,
                on_step=on_step,
                executor=executor,
                progress=progress,
                stop=stop,
                **self.run_options,
            )
        return JobOutcome(result.stopped, "" if result.stopped else reflect_report(result), result)


@record
class JobOutcome:
    stopped: bool
    report: str
    result: Any  # a Comparison or a ReflectResult


def prepare(args: Any, config: Any) -> Job:
    """Check and plan `compare`, `sweep` or `reflect` (`args` from the option table).

    `config`: a ClawConfig whose model, server and log are used where the words give none.
    """
    from claw_nb.lab.optimizer_store import logged_run
    from claw_nb.log.database import resolve_db_path

    verb = canonical_verb(args.optimize_command)
    tasks = select_tasks(args.tasks, args.only)
    db_path = resolve_db_path(Path(args.db).expanduser() if args.db else config.resolved_db_path)
    name = args.name or datetime.now().strftime(f"{verb}-%Y%m%d-%H%M%S")
    previous = logged_run(db_path, name)
    if previous is not None and previous["kind"] != verb:
        raise ConfigError(
            f"run '{name}' is a {previous['kind']} run; pick another --name for this {verb}"
        )
    common = {
        "kind": verb,
        "name": name,
        "db_path": db_path,
        "resumed": previous is not None,
        "tasks": tuple(tasks),
        "run_options": {
            "model": args.model or config.model,
            "api_base": args.api_base or config.api_base,
            "api_key": args.api_key or config.api_key,
            "unsandboxed": args.unsandboxed,
        },
        "tokenizer": args.tokenizer or getattr(config, "tokenizer", None),
        "ray": args.ray,
        "slots": args.slots,
    }
    if verb == "reflect":
        return _prepare_reflect(args, previous, common)
    return _prepare_trials(args, common)


def _prepare_trials(args: Any, common: dict[str, Any]) -> TrialsJob:
    from claw_nb.lab.optimize.compare import check_variants, within_budget
    from claw_nb.lab.optimize.plan import plan_trials
    from claw_nb.lab.optimize.sweep_grid import sweep_variants

    if args.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {args.repeats}")
    tasks = common["tasks"]
    budget = getattr(args, "max_prompt_tokens", None)
    refused: list[tuple[str, str]] = []
    if common["kind"] == "compare":
        variants = [parse_variant(v) for v in args.variant]
        if len(variants) < 2:
            raise ConfigError("compare needs two or more --variant NAME=FILE.toml (or NAME)")
        baseline = check_variants(tasks, variants, args.baseline)
    else:
        base = parse_variant(args.base)
        grid = dict(parse_values(s) for s in args.set)
        fragments = dict(parse_fragment(f) for f in args.fragment)
        if not grid and not fragments and not args.drop_tool and not args.add_tool:
            raise ConfigError(
                "sweep needs a --set KEY=V1,V2, a --fragment NAME=TEXT, a --drop-tool or an"
                " --add-tool"
            )
        variants = sweep_variants(
            base,
            grid,
            fragments,
            args.max_variants,
            drop_tools=args.drop_tool,
            add_tools=args.add_tool,
        )
        variants, refused = within_budget(variants, base, budget, common["tokenizer"])
        baseline = check_variants(tasks, variants, base.name)
    plan = plan_trials(
        common["kind"],
        tasks,
        variants,
        args.repeats,
        common["name"],
        common["db_path"],
        args.slots,
        common["resumed"],
    )
    if refused:
        plan += "\n" + "\n".join(f"over budget, not run: {n} ({why})" for n, why in refused)
    return TrialsJob(
        **common,
        max_prompt_tokens=budget,
        refused=tuple(refused),
        plan=plan,
        variants=tuple(variants),
        baseline=baseline,
        repeats=args.repeats,
        source=str(args.tasks),
    )


def _prepare_reflect(args: Any, previous: dict | None, common: dict[str, Any]) -> ReflectJob:
    from claw_nb.lab.executors import model_slots
    from claw_nb.lab.optimize.proposals import ReflectionModel
    from claw_nb.lab.optimize.reflect import ReflectOptions, plan_reflect
    from claw_nb.lab.optimize.split import split_by_names, split_tasks

    options = ReflectOptions(
        budget=args.budget,
        minibatch=args.minibatch,
        held_out_repeats=args.held_out_repeats,
        max_prompt_tokens=args.max_prompt_tokens,
        tokenizer=common["tokenizer"],
    )
    if options.minibatch < 1 or options.held_out_repeats < 1:
        raise ConfigError("--minibatch and --held-out-repeats must be at least 1")
    seed = parse_variant(args.seed)
    tasks = common["tasks"]
    if previous is not None:  # a resumed run keeps its own split
        names = previous["config"]["split"]
    elif args.split:
        names = read_split(Path(args.split).expanduser())
    else:
        names = None
    split = (
        split_by_names(tasks, names["train"], names["val"], names["held_out"])
        if names
        else split_tasks(tasks, seed=options.seed)
    ).for_search()
    one_round = 2 * len(split.val) + 2 * min(options.minibatch, len(split.train))
    if options.budget < one_round:
        raise ConfigError(
            f"--budget {options.budget} is below one round of the search ({one_round} rollouts:"
            f" the seed and one proposal on {len(split.val)} validation tasks, parent and"
            f" proposal on a minibatch of {min(options.minibatch, len(split.train))})"
        )
    run_options = common["run_options"]
    reflection = ReflectionModel(
        args.reflection_model or run_options["model"],
        api_base=args.reflection_api_base or run_options["api_base"],
        api_key=run_options["api_key"],
    )
    if reflection.model == "auto":
        raise ConfigError("reflect needs --reflection-model MODEL (a LiteLLM model string)")
    cost = plan_reflect(
        tasks,
        split=split,
        options=options,
        db_path=common["db_path"],
        parallel=args.slots or model_slots(),
    )
    plan = (
        f"reflect '{common['name']}'{' (resuming)' if previous else ''}: {cost}\n"
        f"split {split.summary()}; reflection model {reflection.model}"
    )
    return ReflectJob(
        **common,
        plan=plan,
        seed=seed,
        components=tuple(args.component) or ("system_prompt",),
        split=split,
        options=options,
        reflection=reflection,
    )


def adopt_from_words(args: Any, db_path: Path, workspace: Path) -> str:
    """`adopt RUN [--pick V] [--as NAME] [--workspace DIR]`: the line a shell prints."""
    from claw_nb.lab.optimize.reports import adopt_run

    if args.workspace:
        workspace = Path(args.workspace).expanduser()
    path = adopt_run(db_path, args.run, args.pick, args.as_name, workspace)
    return f"adopted: wrote {path} (and the settings in .claw/settings.toml)"


def words_db(args: Any, default: Path | None) -> Path:
    """The log a verb reads: `--db FILE`, else the shell's default."""
    from claw_nb.log.database import resolve_db_path

    return resolve_db_path(Path(args.db).expanduser() if args.db else default)
