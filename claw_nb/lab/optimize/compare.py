"""`compare` (A/B/C... of given variants, with repeats) and `sweep` (a grid over settings and
prompt fragments): the everyday tools, reported with the lab's paired statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab import power, statistics
from claw_nb.lab.optimize.adopt import adopt_variant
from claw_nb.lab.optimize.sweep_grid import sweep_variants
from claw_nb.records import record

REPORT_COLUMNS = (
    "variant",
    "trials",
    "pass_rate",
    "lo",
    "hi",
    "diff",
    "diff_lo",
    "diff_hi",
    "p_value",
    "p_holm",
    "wins",
    "losses",
    "ties",
    "small_sample",
    "tokens_per_solved",
)


@record
class Comparison:
    """The outcome of a compare or sweep: results, leaderboard, power, and plots."""

    experiment: Any  # claw_nb.lab.runner.Experiment
    variants: list[Any]
    baseline: str
    repeats: int
    tasks: list[Any]
    tokenizer: str | None = None  # what base requests are counted with (None: tiktoken)
    max_prompt_tokens: int | None = None  # the budget the variants were held to
    refused: list[tuple[str, str]] = field(default_factory=list)  # (variant, why) over it

    def results(self) -> list[Any]:
        names = {v.name for v in self.variants}
        wanted = {t.name for t in self.tasks}
        return [r for r in self.experiment.results() if r.variant in names and r.task in wanted]

    def leaderboard(self) -> Any:
        return statistics.leaderboard(self.results(), baseline=self.baseline)

    def per_task(self) -> Any:
        return statistics.per_task_table(self.results())

    def minimum_detectable_difference(self, base_rate: float = 0.5) -> float:
        return power.minimum_detectable_difference(len(self.tasks), self.repeats, base_rate)

    def best(self) -> Any:
        """The variant with the highest pass rate (ties: fewer tokens per solved task)."""
        board = self.leaderboard().sort_values(
            ["pass_rate", "tokens_per_solved"], ascending=[False, True], kind="stable"
        )
        name = board.iloc[0]["variant"]
        return next(v for v in self.variants if v.name == name)

    def adopt(
        self, variant: str | None = None, name: str | None = None, workspace: Path | None = None
    ) -> Path:
        chosen = (
            self.best()
            if variant is None
            else next((v for v in self.variants if v.name == variant), None)
        )
        if chosen is None:
            raise ConfigError(f"no variant '{variant}' in this comparison")
        return adopt_variant(chosen, name=name, workspace=workspace)

    def base_requests(self) -> dict[str, Any]:
        """Each variant's base request (system prompt + tool schemas) in tokens."""
        from claw_nb.lab.optimize.budget import BaseRequestCounter

        counter = BaseRequestCounter(tokenizer=self.tokenizer)
        return {v.name: counter.count(v) for v in self.variants}

    def budget_table(self) -> Any:
        """Pass rate against base-request tokens, the Pareto front marked."""
        from claw_nb.lab.optimize.budget import budget_table

        return budget_table(self.leaderboard(), self.base_requests())

    def plot_budget(self, ax: Any = None) -> Any:
        """Pass rate (95% interval) against base-request tokens, the Pareto front joined."""
        from claw_nb.lab.optimize.budget import plot_budget

        return plot_budget(self.budget_table(), ax)

    def summary(self) -> str:
        """The leaderboard with intervals, p-values, wins/losses and the small-sample flag."""
        board = self.leaderboard()
        table = board[[c for c in REPORT_COLUMNS if c in board]].to_string(
            index=False, float_format=lambda x: f"{x:.4g}"
        )
        mdd = self.minimum_detectable_difference()
        lines = [
            f"{len(self.tasks)} tasks x {self.repeats} repeat(s), baseline '{self.baseline}'",
            table,
            f"Smallest difference this suite can detect (80% power, 5% two-sided): "
            f"{mdd * 100:.0f} points",
        ]
        if "small_sample" in board and bool(board["small_sample"].any()):
            lines.append("small sample: differences this size may be noise; add tasks or repeats")
        lines.extend(self._budget_lines())
        return "\n".join(lines)

    def _budget_lines(self) -> list[str]:
        """What each variant's prompt costs, when the variants differ in it or a budget held."""
        from claw_nb.lab.optimize.budget import budget_lines

        if any(getattr(v, "external", False) for v in self.variants):
            return []  # a command-line agent's prompt is its own: no base request to count
        requests = self.base_requests()
        if len({r.tokens for r in requests.values()}) < 2 and self.max_prompt_tokens is None:
            return []
        counted_with = next(iter(requests.values())).counted_with
        lines = budget_lines(self.budget_table(), counted_with, self.max_prompt_tokens)
        lines += [f"over budget, not run: {name} ({why})" for name, why in self.refused]
        return lines

    def readable_summary(self) -> str:
        """The summary as a person reads it (a notebook's Out): rounded, the methods named, an
        undefined value explained (`claw_nb.lab.readable`); `summary()` keeps raw numbers."""
        from claw_nb.lab.readable import readable_leaderboard

        mdd = self.minimum_detectable_difference()
        return "\n".join(
            [
                f"{len(self.tasks)} tasks x {self.repeats} repeat(s), baseline '{self.baseline}'",
                readable_leaderboard(self.leaderboard()).text(),
                f"Smallest difference this suite can detect (80% power, 5% two-sided): "
                f"{mdd * 100:.0f} points",
                *self._budget_lines(),
            ]
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.readable_summary())

    def plot_leaderboard(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        board = self.leaderboard().iloc[::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(board)))
        y = range(len(board))
        ax.errorbar(
            board["pass_rate"],
            y,
            xerr=[board["pass_rate"] - board["lo"], board["hi"] - board["pass_rate"]],
            fmt="o",
            capsize=3,
        )
        ax.set_yticks(list(y), board["variant"])
        ax.set_xlim(0, 1)
        ax.set_xlabel("pass rate (95% interval)")
        return ax

    def plot_heatmap(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        table = self.per_task()
        if ax is None:
            _, ax = plt.subplots(figsize=(1 + 0.8 * table.shape[1], 0.6 + 0.3 * table.shape[0]))
        image = ax.imshow(table.to_numpy(), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
        ax.set_yticks(range(table.shape[0]), table.index)
        ax.figure.colorbar(image, ax=ax, label="mean reward")
        return ax


def compare(
    tasks: Sequence[Any],
    variants: Sequence[Any],
    *,
    repeats: int = 1,
    baseline: str | None = None,
    experiment: str | None = None,
    db_path: Path | None = None,
    **run_options: Any,
) -> Comparison:
    """Run every variant on every task `repeats` times; paired statistics vs the baseline."""
    from claw_nb.lab.runner import run_experiment

    baseline = check_variants(tasks, variants, baseline)
    exp = run_experiment(
        list(tasks),
        list(variants),
        repeats=repeats,
        experiment=experiment,
        db_path=db_path,
        **run_options,
    )
    return Comparison(exp, list(variants), baseline, repeats, list(tasks))


def check_variants(tasks: Sequence[Any], variants: Sequence[Any], baseline: str | None) -> str:
    """The baseline's name (default: the first variant), once the variants are fit to compare.

    The one check of a baseline: `compare`, `sweep` and `lab optimize` all call it."""
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must be unique (got {names})")
    if not variants or not tasks:
        raise ConfigError("compare needs at least one task and one variant")
    if baseline is not None and baseline not in names:
        raise ConfigError(f"baseline '{baseline}' is not one of the variants {names}")
    return baseline or names[0]


def sweep(
    tasks: Sequence[Any],
    base: Any,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    fragments: Mapping[str, str] | None = None,
    drop_tools: Sequence[str] = (),
    add_tools: Sequence[str] = (),
    repeats: int = 1,
    max_variants: int = 32,
    max_prompt_tokens: int | None = None,
    tokenizer: str | None = None,
    **options: Any,
) -> Comparison:
    """A grid over settings and switches (prompt fragments on/off, tools dropped or added),
    compared against `base`. With `max_prompt_tokens`, variants whose base request (system
    prompt + tool schemas, counted with `tokenizer`) is over it are refused before any trial."""
    variants = sweep_variants(
        base, grid, fragments, max_variants, drop_tools=drop_tools, add_tools=add_tools
    )
    variants, refused = within_budget(variants, base, max_prompt_tokens, tokenizer)
    cmp = compare(tasks, variants, repeats=repeats, baseline=base.name, **options)
    cmp.tokenizer, cmp.max_prompt_tokens, cmp.refused = tokenizer, max_prompt_tokens, refused
    return cmp


def within_budget(
    variants: Sequence[Any], base: Any, max_prompt_tokens: int | None, tokenizer: str | None
) -> tuple[list[Any], list[tuple[str, str]]]:
    """(variants to run, [(name, why) refused]); the base over budget is a ConfigError."""
    if max_prompt_tokens is None:
        return list(variants), []
    from claw_nb.lab.optimize.budget import BaseRequestCounter, PromptBudget

    budget = PromptBudget(max_prompt_tokens, BaseRequestCounter(tokenizer=tokenizer))
    budget.require(base, "base")
    kept, refused = budget.within(variants)
    return kept, [(v.name, why) for v, why in refused]
