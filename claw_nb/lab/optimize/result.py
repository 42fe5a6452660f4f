"""What a reflect run produced, read back from the log: candidates, curve, verdict, diff."""

from __future__ import annotations

import difflib
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.lab.optimize.adopt import adopt
from claw_nb.lab.optimize.candidates import SYSTEM_PROMPT, TOOL_PREFIX
from claw_nb.lab.optimize.split import Split
from claw_nb.lab.optimizer_store import load_steps
from claw_nb.records import record


@record
class ReflectResult:
    run: str
    db_path: Path
    split: Split
    seed_texts: dict[str, str]
    best_texts: dict[str, str]
    steps: Any  # pandas.DataFrame of optimizer_steps
    held_out: Any = None  # statistics.PairedComparison of winner vs seed, or None
    alpha: float = 0.05
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run: str, db_path: Path, **kw: Any) -> ReflectResult:
        steps = load_steps(db_path, run)
        stopped = bool(len(steps)) and steps.iloc[-1]["status"] == "stopped"
        return cls(run=run, db_path=Path(db_path), steps=steps, stopped=stopped, **kw)

    @property
    def improved(self) -> bool:
        """Whether validation picked a candidate other than the seed."""
        return self.best_texts != self.seed_texts

    @property
    def holds(self) -> bool:
        """The gain is real only if it holds on held-out tasks: positive and significant."""
        h = self.held_out
        return bool(self.improved and h is not None and h.diff > 0 and h.p_value < self.alpha)

    @property
    def verdict(self) -> str:
        if self.stopped:
            return "stopped before the end; call reflect again with the same run to continue"
        if not self.improved:
            return "no candidate beat the seed on validation: keep the seed"
        if self.held_out is None:
            return "a candidate won on validation; no held-out tasks to check it on"
        summary = self.held_out.summary()
        if self.holds:
            return f"the gain holds on held-out tasks: {summary}"
        return f"the gain does NOT hold on held-out tasks: {summary}"

    def curve(self) -> Any:
        """Best validation score so far against rollouts spent (the search's progress)."""
        rows = self.steps[self.steps["status"].isin(["seed", "resumed", "validated"])]
        frame = rows[["step", "rollouts", "val_score", "candidate"]].reset_index(drop=True)
        frame["best_so_far"] = frame["val_score"].cummax()
        return frame

    def candidates(self) -> Any:
        """Every proposal: kept, not kept, or rejected by a guard (with the reason)."""
        keep = [
            "step",
            "status",
            "candidate",
            "parent",
            "component",
            "reason",
            "train_score",
            "parent_score",
            "val_score",
            "rollouts",
        ]
        mask = self.steps["status"].isin(
            ["proposed", "rejected", "accepted", "not_accepted", "validated"]
        )
        return self.steps.loc[mask, keep].reset_index(drop=True)

    def rejected(self) -> Any:
        rows = self.steps[self.steps["status"] == "rejected"]
        return rows[["step", "component", "reason"]].reset_index(drop=True)

    def diff(self, component: str = SYSTEM_PROMPT) -> str:
        """Unified diff of the winning text against the seed."""
        return "".join(
            difflib.unified_diff(
                self.seed_texts[component].splitlines(keepends=True),
                self.best_texts[component].splitlines(keepends=True),
                fromfile=f"seed/{component}",
                tofile=f"best/{component}",
            )
        )

    def plot_curve(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        frame = self.curve()
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        ax.step(frame["rollouts"], frame["best_so_far"], where="post", label="best so far")
        ax.scatter(frame["rollouts"], frame["val_score"], s=14, label="candidate")
        ax.set_xlabel("rollouts (trials run)")
        ax.set_ylabel("validation score")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(loc="lower right")
        return ax

    def adopt(self, name: str, workspace: Path | None = None) -> Path:
        """Keep the winner as the workspace's prompt (refuses a gain that did not hold)."""
        from claw_nb.errors import ConfigError

        if not self.holds:
            raise ConfigError(
                f"not adopting: {self.verdict}. Use claw_nb.lab.optimize.adopt "
                "to write a prompt anyway"
            )
        tools = {
            c[len(TOOL_PREFIX) :]: t
            for c, t in self.best_texts.items()
            if c.startswith(TOOL_PREFIX)
        }
        return adopt(
            name,
            system_prompt=self.best_texts.get(SYSTEM_PROMPT),
            tool_descriptions=tools or None,
            workspace=workspace,
        )

    def __str__(self) -> str:
        counts = self.steps["status"].value_counts().to_dict() if len(self.steps) else {}
        return (
            f"reflect run '{self.run}': {self.split.summary()}\n"
            f"steps: {counts}\nverdict: {self.verdict}"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))
