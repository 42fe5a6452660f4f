"""What a variant costs before the task says a word: its base request (the system prompt and the
tool schemas every request repeats), counted with the model's tokenizer, and the budget that
refuses a variant over it before any trial runs.

Prompt search makes prompts longer; on an 8-16k window that is a regression the pass rate does
not show. `--max-prompt-tokens N` turns the window into a constraint the optimizers respect:
sweep drops the variants over it, reflect's guards reject proposals over it (logged with the
reason, never evaluated), and a seed or base over it is refused with the figures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.guards import CandidateRejected
from claw_nb.records import record

TRIAL_WORKSPACE = Path(tempfile.gettempdir()) / "claw-lab-trial" / "workspace"
"""A stand-in for the fresh workspace a trial gets (its path is part of the prompt)."""


@record(frozen=True)
class BaseRequest:
    """A variant's fixed part of every request, in tokens of one tokenizer."""

    system_tokens: int
    tool_tokens: int
    tools: tuple[str, ...]
    counted_with: str

    @property
    def tokens(self) -> int:
        return self.system_tokens + self.tool_tokens


class BaseRequestCounter:
    """Counts variants' base requests with one tokenizer (loaded once, reused per variant)."""

    def __init__(self, model: str | None = None, tokenizer: str | None = None):
        from claw_nb.context.tokens import TokenCounter

        self._counter = TokenCounter(model or "", tokenizer)

    def count(self, variant: Any) -> BaseRequest:
        """The system prompt as a trial renders it (no project memory: a task's workspace
        brings its own) plus the tool schemas as the chat template gets them, `read_output`'s
        included (the context manager adds it to every request)."""
        from claw_nb.context.tokens import PER_MESSAGE, PRIMING
        from claw_nb.prompts import render_template, template_text

        if getattr(variant, "external", False):
            raise ConfigError(
                f"variant '{variant.name}' runs its own agent (agent_command): its prompt is "
                "not claw's to count; prompt budgets apply to claw's variants"
            )
        tools = variant.tool_registry()
        template = variant.system_prompt if variant.system_prompt is not None else template_text()
        system = render_template(template, TRIAL_WORKSPACE, tools)
        system_tokens = PRIMING + PER_MESSAGE + self._counter.text(system)
        # the context manager sends `read_output` from the first request on (claw_nb.context)
        from claw_nb.context.outputs import OutputStore, make_read_output_tool

        specs = [*tools.specs(), make_read_output_tool(OutputStore()).spec()]
        tool_tokens = self._counter.tools(specs)
        return BaseRequest(
            system_tokens, tool_tokens, tuple(tools.names()), self._counter.description
        )


@record
class PromptBudget:
    """At most `max_tokens` of base request per variant."""

    max_tokens: int
    counter: BaseRequestCounter

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"--max-prompt-tokens must be at least 1, got {self.max_tokens}")

    def check(self, variant: Any) -> BaseRequest:
        """The variant's base request, or CandidateRejected when it is over budget."""
        base = self.counter.count(variant)
        if base.tokens > self.max_tokens:
            raise CandidateRejected(
                f"over budget: the base request is {base.tokens:,} tokens "
                f"(system prompt {base.system_tokens:,} + tool schemas {base.tool_tokens:,}), "
                f"budget {self.max_tokens:,}"
            )
        return base

    def require(self, variant: Any, role: str) -> BaseRequest:
        """Like `check`, for a variant the run cannot do without (the seed, the base)."""
        try:
            return self.check(variant)
        except CandidateRejected as exc:
            raise ConfigError(
                f"the {role} variant '{variant.name}' is {exc.reason.removeprefix('over budget: ')}"
                "; raise --max-prompt-tokens or shorten it"
            ) from None

    def within(self, variants: Iterable[Any]) -> tuple[list[Any], list[tuple[Any, str]]]:
        """(the variants within budget, [(variant, why) for those over it])."""
        kept: list[Any] = []
        refused: list[tuple[Any, str]] = []
        for variant in variants:
            try:
                self.check(variant)
            except CandidateRejected as exc:
                refused.append((variant, exc.reason))
            else:
                kept.append(variant)
        return kept, refused


def pareto_front(points: Sequence[tuple[float, int]]) -> list[bool]:
    """For (pass rate, tokens) points: whether each is on the front, i.e. no other point has a
    pass rate at least as high with no more tokens and is strictly better in one of the two."""
    front = []
    for i, (rate, tokens) in enumerate(points):
        dominated = any(
            other_rate >= rate
            and other_tokens <= tokens
            and (other_rate > rate or other_tokens < tokens)
            for j, (other_rate, other_tokens) in enumerate(points)
            if j != i
        )
        front.append(not dominated)
    return front


def budget_table(board: Any, requests: dict[str, BaseRequest]) -> Any:
    """Pass rate (with its interval) against base-request tokens per variant, the Pareto front
    marked: the variants no other one beats on both (a NaN pass rate is never on it)."""
    table = board[["variant", "pass_rate", "lo", "hi"]].copy()
    table["base_tokens"] = [requests[v].tokens for v in table["variant"]]
    table["tools"] = [len(requests[v].tools) for v in table["variant"]]
    rated = table["pass_rate"].notna().tolist()
    points = [(float(r), int(t)) for r, t in zip(table["pass_rate"], table["base_tokens"])]
    rated_points = [p for p, ok in zip(points, rated) if ok]
    flags = iter(pareto_front(rated_points))
    table["pareto"] = [next(flags) if ok else False for ok in rated]
    return table.sort_values("base_tokens", kind="stable").reset_index(drop=True)


def budget_lines(table: Any, counted_with: str, budget: int | None) -> list[str]:
    """The budget table as a report prints it."""
    head = "pass rate vs base request (system prompt + tool schemas)"
    head += f", counted with {counted_with}"
    if budget is not None:
        head += f"; budget {budget:,} tokens"
    lines = [head]
    for row in table.itertuples():
        rate = "  n/a" if row.pass_rate != row.pass_rate else f"{row.pass_rate:5.0%}"
        mark = "  * Pareto front" if row.pareto else ""
        lines.append(
            f"  {row.variant:<28} {row.base_tokens:>7,} tokens  {row.tools} tools  {rate}{mark}"
        )
    return lines


def plot_budget(table: Any, ax: Any = None) -> Any:
    """Pass rate (95% interval) against base-request tokens; the Pareto front joined by a line."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    rated = table[table["pass_rate"].notna()]
    ax.errorbar(
        rated["base_tokens"],
        rated["pass_rate"],
        yerr=[rated["pass_rate"] - rated["lo"], rated["hi"] - rated["pass_rate"]],
        fmt="o",
        capsize=3,
        color="tab:gray",
        label="variant (95% interval)",
    )
    front = rated[rated["pareto"]].sort_values("base_tokens")
    ax.plot(front["base_tokens"], front["pass_rate"], "-o", color="tab:red", label="Pareto front")
    for row in rated.itertuples():
        ax.annotate(
            row.variant,
            (row.base_tokens, row.pass_rate),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("base request tokens (system prompt + tool schemas)")
    ax.set_ylabel("pass rate")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower right", fontsize=7)
    return ax
