"""`compare` (A/B/C... of given variants, with repeats) and `sweep` (a grid over settings and
prompt fragments): the everyday tools, reported with the lab's paired statistics."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab import power, statistics
from claw_nb.lab.optimize.adopt import adopt_variant

SWEEP_SETTINGS = ("model", "temperature", "max_steps", "max_tool_result_chars", "context_window")
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
SHORT = {
    "temperature": "temp",
    "max_steps": "steps",
    "max_tool_result_chars": "cap",
    "context_window": "ctx",
    "model": "model",
}


@dataclass
class Comparison:
    """The outcome of a compare or sweep: results, leaderboard, power, and plots."""

    experiment: Any  # claw_nb.lab.runner.Experiment
    variants: list[Any]
    baseline: str
    repeats: int
    tasks: list[Any]

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
        return "\n".join(lines)

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


def with_fragments(template: str, fragments: Sequence[str]) -> str:
    """The template with fragments added before its `$memory` placeholder (or at the end)."""
    if not fragments:
        return template
    block = "\n".join(f.rstrip() for f in fragments) + "\n"
    if "$memory" in template:
        head, _, tail = template.rpartition("$memory")
        return f"{head.rstrip()}\n{block}$memory{tail}"
    return template.rstrip() + "\n" + block


def sweep_variants(
    base: Any,
    grid: Mapping[str, Sequence[Any]] | None = None,
    fragments: Mapping[str, str] | None = None,
    max_variants: int | None = None,
) -> list[Any]:
    """The base variant, then one variant per point of the grid x fragments on/off.

    With `max_variants`, refuses a larger sweep: the one check of a sweep's size (`sweep` and
    `lab optimize sweep` both pass their cap here)."""
    from claw_nb.prompts import template_text

    grid = dict(grid or {})
    unknown = set(grid) - set(SWEEP_SETTINGS)
    if unknown:
        raise ConfigError(f"cannot sweep {sorted(unknown)}; known: {', '.join(SWEEP_SETTINGS)}")
    fragments = dict(fragments or {})
    keys = list(grid)
    switches = list(itertools.product([False, True], repeat=len(fragments)))
    template = base.system_prompt or template_text("default")
    out = [base]
    seen = {_signature(base)}
    for values in itertools.product(*(grid[k] for k in keys)):
        for switch in switches:
            on = [name for name, flag in zip(fragments, switch) if flag]
            changes = dict(zip(keys, values))
            label = (
                " ".join(
                    [f"{SHORT[k]}={v}" for k, v in changes.items()] + [f"+{name}" for name in on]
                )
                or "base"
            )
            prompt = (
                with_fragments(template, [fragments[n] for n in on]) if on else (base.system_prompt)
            )
            variant = dataclasses.replace(base, name=label, system_prompt=prompt, **changes)
            if _signature(variant) in seen:
                continue
            seen.add(_signature(variant))
            out.append(variant)
    if max_variants is not None and len(out) > max_variants:
        raise ConfigError(
            f"the sweep has {len(out)} variants (cap {max_variants}): "
            "narrow the grid or raise the cap (max_variants, --max-variants)"
        )
    return out


def _signature(variant: Any) -> tuple:
    return tuple(
        (f.name, repr(getattr(variant, f.name)))
        for f in dataclasses.fields(variant)
        if f.name != "name"
    )


def sweep(
    tasks: Sequence[Any],
    base: Any,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    fragments: Mapping[str, str] | None = None,
    repeats: int = 1,
    max_variants: int = 32,
    **options: Any,
) -> Comparison:
    """A grid over settings and prompt fragments switched on/off, compared against `base`."""
    variants = sweep_variants(base, grid, fragments, max_variants)
    return compare(tasks, variants, repeats=repeats, baseline=base.name, **options)
