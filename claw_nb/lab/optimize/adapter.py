"""Our adapter between gepa's search loop and the lab: trials to score, the log to reflect on.

gepa proposes and selects; everything else is ours. `evaluate` runs trials through the lab
runner (each candidate is a lab variant, so its trials are ordinary logged sessions and a
re-run skips what is already measured); the reflective records come from the DuckDB log;
`propose_new_texts` asks the reflection model and passes its reply through the guards.
Events gepa reports back (kept, not kept, validation scores, rollouts spent) are written to
`optimizer_steps` by `StepRecorder`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claw_nb.lab.optimize.candidates import candidate_id, candidate_variant
from claw_nb.lab.optimize.guards import CandidateRejected, Guard
from claw_nb.lab.optimize.proposals import ReflectionModel, reflection_prompt, trial_evidence
from claw_nb.lab.optimize.run_log import RunLog
from claw_nb.lab.store import count_trials
from claw_nb.lab.tamper import counted_reward
from claw_nb.stop import StopToken

RunTrials = Callable[[Sequence[Any], Sequence[Any], int, str], list[Any]]
"""(tasks, variants, repeats, experiment) -> trial results: the lab runner, bound to its options."""


class LabAdapter:
    """gepa's `GEPAAdapter` protocol over the lab runner, the DuckDB log and our guards."""

    def __init__(
        self,
        *,
        seed_variant: Any,
        run_trials: RunTrials,
        experiment: str,
        db_path: Path,
        guards: Mapping[str, Guard],
        reflection: ReflectionModel,
        steps: RunLog,
        stop: StopToken | None = None,
        budget: Any = None,
    ):
        self.seed_variant = seed_variant
        self.run_trials = run_trials
        self.experiment = experiment
        self.db_path = Path(db_path)
        self.guards = dict(guards)
        self.budget = budget  # a budget.PromptBudget: proposals over it are rejected unrun
        self.reflection = reflection
        self.steps = steps
        self.stop = stop if stop is not None else StopToken()  # the reflection call watches it
        self.trials_run = 0
        self.last_proposal: dict[str, Any] | None = None
        # Hears each proposal as it is guarded (the StepRecorder passes it on to `on_step`).
        self.on_proposal: Callable[[dict[str, Any]], None] | None = None

    # gepa calls this attribute when it is set; it replaces gepa's own proposal prompt.
    def propose_new_texts(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        parent = candidate_id(candidate)
        accepted: dict[str, str] = {}
        for component in components_to_update:
            guard = self.guards[component]
            prompt = reflection_prompt(
                component,
                candidate[component],
                reflective_dataset.get(component, []),
                sorted(guard.required_placeholders),
                guard.max_chars,
                self._budget_rule(candidate),
            )
            self.stop.raise_if_stopped()
            reply = self.reflection.ask(prompt, should_stop=self.stop)
            self.stop.raise_if_stopped()  # a reply that came after a stop is not a proposal
            common = dict(
                parent=parent,
                component=component,
                reflection_model=self.reflection.model,
                reflection_prompt=prompt,
                reflection_reply=reply.text,
                reflection_tokens=reply.tokens,
                rollouts=self.trials_run,
            )
            try:
                text = guard.check(
                    reply.text, parent=candidate[component], truncated=reply.truncated
                )
                if self.budget is not None:
                    texts = {**candidate, **accepted, component: text}
                    self.budget.check(candidate_variant(self.seed_variant, texts))
            except CandidateRejected as rejected:
                self.steps.add("rejected", reason=rejected.reason, **common)
                self._tell(
                    {"status": "rejected", "component": component, "reason": rejected.reason}
                )
                continue
            accepted[component] = text
            child = candidate_id({**candidate, **accepted})
            self.steps.add("proposed", candidate=child, text=text, **common)
            self.last_proposal = {"candidate": child, "parent": parent, "component": component}
            self._tell({"status": "proposed", "component": component, "candidate": child})
        return accepted

    def _budget_rule(self, candidate: dict[str, str]) -> str:
        """The budget as the reflection model is told it: the cap and where the parent is."""
        if self.budget is None:
            return ""
        now = self.budget.counter.count(candidate_variant(self.seed_variant, candidate))
        return (
            f"The agent's system prompt and tool schemas together must stay within "
            f"{self.budget.max_tokens:,} tokens; with the current text they are {now.tokens:,}."
        )

    def _tell(self, event: dict[str, Any]) -> None:
        if self.on_proposal is not None:
            self.on_proposal(event)

    def evaluate(
        self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        from gepa import EvaluationBatch

        name = candidate_id(candidate)
        variant = candidate_variant(self.seed_variant, candidate, name)
        results = self.run_trials(batch, [variant], 1, self.experiment)
        by_task = {r.task: r for r in results if r.variant == name}
        self.trials_run = self._count_trials()
        scores, outputs = [], []
        for task in batch:
            result = by_task.get(task.name)
            # a trial the tamper report flagged counts as failed: see counted_reward
            scores.append(counted_reward(result) if result is not None else 0.0)
            outputs.append(
                {
                    "task": task.name,
                    "reward": scores[-1],
                    "error": None if result is not None else "no trial result",
                    "tamper": list(getattr(result, "tamper", ())),
                }
            )
        trajectories = None
        if capture_traces:
            records = trial_evidence(self.db_path, self.experiment, name, batch)
            trajectories = [
                records.get(
                    t.name,
                    {
                        "task": t.instruction,
                        "reward": s,
                        "error": "the trial left no record in the log",
                    },
                )
                for t, s in zip(batch, scores)
            ]
        return EvaluationBatch(outputs=outputs, scores=scores, trajectories=trajectories)

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict]]:
        records = [dict(t) for t in (eval_batch.trajectories or [])]
        return {component: records for component in components_to_update}

    def _count_trials(self) -> int:
        return count_trials(self.db_path, self.experiment)


def candidate_text(candidate: Mapping[str, str]) -> str:
    """One component's text as is; several as JSON (component -> text)."""
    if len(candidate) == 1:
        return next(iter(candidate.values()))
    return json.dumps(dict(candidate), ensure_ascii=False, indent=1)


class StepRecorder:
    """gepa callbacks -> `optimizer_steps` rows: kept or not, validation scores, rollouts."""

    def __init__(
        self,
        adapter: LabAdapter,
        steps: RunLog,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        resumed: bool = False,
    ):
        self.resumed = resumed  # gepa reports the seed again when it reloads its state
        self.adapter = adapter
        self.steps = steps
        self.on_step = on_step
        adapter.on_proposal = self._emit
        self.metric_calls = 0
        self.best_val: float | None = None

    def _emit(self, row: dict[str, Any]) -> None:
        if self.on_step is not None:
            self.on_step(row)

    def on_budget_updated(self, event: Mapping[str, Any]) -> None:
        self.metric_calls = int(event["metric_calls_used"])

    def on_candidate_rejected(self, event: Mapping[str, Any]) -> None:
        proposal = self.adapter.last_proposal or {}
        self.steps.add(
            "not_accepted",
            candidate=proposal.get("candidate"),
            parent=proposal.get("parent"),
            component=proposal.get("component"),
            reason=str(event.get("reason", "")),
            train_score=event.get("new_score"),
            parent_score=event.get("old_score"),
            rollouts=self.adapter.trials_run,
        )
        self._emit({"status": "not_accepted", "reason": event.get("reason")})

    def on_candidate_accepted(self, event: Mapping[str, Any]) -> None:
        proposal = self.adapter.last_proposal or {}
        self.steps.add(
            "accepted",
            candidate=proposal.get("candidate"),
            parent=proposal.get("parent"),
            component=proposal.get("component"),
            train_score=event.get("new_score"),
            rollouts=self.adapter.trials_run,
        )
        self._emit({"status": "accepted", "candidate": proposal.get("candidate")})

    def on_valset_evaluated(self, event: Mapping[str, Any]) -> None:
        candidate = event["candidate"]
        score = float(event["average_score"])
        is_seed = event.get("candidate_idx") == 0
        self.best_val = score if self.best_val is None else max(self.best_val, score)
        status = ("resumed" if self.resumed else "seed") if is_seed else "validated"
        name = candidate_id(candidate)
        proposal = self.adapter.last_proposal or {}
        parent = proposal.get("parent") if proposal.get("candidate") == name else None
        self.steps.add(
            status,
            candidate=name,
            parent=parent,
            val_score=score,
            rollouts=self.adapter.trials_run,
            text=candidate_text(candidate),
        )
        self._emit(
            {
                "status": "validated",
                "val_score": score,
                "best": self.best_val,
                "rollouts": self.adapter.trials_run,
            }
        )
