"""A past optimizer run read back from the DuckDB log: its report, and adopting its winner.

Every run (`compare` and `sweep` too, since the front ends register them) has an
`optimizer_runs` row; its trials are the experiment of the same name. A compare or sweep comes
back as a :class:`~claw_nb.lab.optimize.compare.Comparison` (variants rebuilt from the
`variants` table), a reflect run as a :class:`~claw_nb.lab.optimize.result.ReflectResult`
(the held-out comparison recomputed from its trials), so `show` and `adopt` reuse their code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import PROMPTS_DIR
from claw_nb.errors import ConfigError
from claw_nb.lab import optimizer_store, store
from claw_nb.records import record


@record(frozen=True)
class LoggedTask:
    """A task as the log knows it (enough for splits and tables)."""

    name: str
    difficulty: str = "medium"


def runs_table(db_path: Path) -> Any:
    """Every optimizer run in the log, oldest first (run, kind, created_at, status, best)."""
    import pandas as pd

    return pd.DataFrame(optimizer_store.run_rows(Path(db_path)), columns=list(store.RUN_COLUMNS))


def _require(db_path: Path, run: str) -> dict[str, Any]:
    found = optimizer_store.logged_run(db_path, run)
    if found is None:
        names = list(runs_table(db_path)["run"])
        known = ", ".join(names[-10:]) or "none yet"
        raise ConfigError(f"no optimizer run '{run}' in {db_path} (runs: {known})")
    return found


def open_run(db_path: Path, run: str) -> Any:
    """A past run: a Comparison (compare, sweep) or a ReflectResult (reflect)."""
    found = _require(db_path, run)
    if found["kind"] == "reflect":
        return _reflect_result(db_path, found)
    return _comparison(db_path, found)


def _tasks(db_path: Path, names: list[str]) -> dict[str, LoggedTask]:
    known = store.task_difficulties(db_path, names)
    return {n: LoggedTask(n, known.get(n) or "medium") for n in names}


def _comparison(db_path: Path, found: dict[str, Any]) -> Any:
    from claw_nb.lab.experiment import Experiment
    from claw_nb.lab.optimize.compare import Comparison
    from claw_nb.lab.variants import Variant

    config, run = found["config"], found["run"]
    overrides = store.variant_overrides(db_path, run)
    variants = [Variant.from_dict(n, overrides.get(n, {})) for n in config["variants"]]
    tasks = list(_tasks(db_path, config["tasks"]).values())
    stopped = found["status"] != "done"
    return Comparison(
        Experiment(run, Path(db_path), stopped=stopped),
        variants,
        config["baseline"],
        int(config["repeats"]),
        tasks,
    )


def _reflect_result(db_path: Path, found: dict[str, Any]) -> Any:
    from claw_nb.lab.optimize.candidates import candidate_id
    from claw_nb.lab.optimize.result import ReflectResult
    from claw_nb.lab.optimize.split import Split
    from claw_nb.lab.statistics import compare_variants

    config, run = found["config"], found["run"]
    names = config["split"]
    tasks = _tasks(db_path, [n for part in names.values() for n in part])
    split = Split(*(tuple(tasks[n] for n in names[p]) for p in ("train", "val", "held_out")))
    seed_texts = dict(config["seed"])
    steps = optimizer_store.load_steps(db_path, run)
    best_texts = dict(seed_texts)
    best = found["best_candidate"]
    texts = steps.loc[steps["candidate"] == best, "text"].dropna() if best else []
    if len(texts):
        text = texts.iloc[-1]
        best_texts = (
            dict(json.loads(text)) if len(seed_texts) > 1 else {next(iter(seed_texts)): text}
        )
        if candidate_id(best_texts) != best:
            best_texts = dict(seed_texts)  # a text the log cannot give back whole
    options = config.get("options", {})
    held_out = None
    results = store.load_results(db_path, f"{run}/held-out")
    if found["status"] == "done" and results:
        held_out = compare_variants(
            results, "seed", "winner", seed=int(options.get("seed", 0))
        ).attrs["comparison"]
    return ReflectResult.load(
        run,
        Path(db_path),
        split=split,
        seed_texts=seed_texts,
        best_texts=best_texts,
        held_out=held_out,
        alpha=float(options.get("alpha", 0.05)),
    )


def comparison_report(cmp: Any) -> str:
    """The statistics of a compare or sweep as text (its summary) and the best variant."""
    return f"{cmp.summary()}\nbest: {cmp.best().name}"


def reflect_report(result: Any) -> str:
    """A reflect run as text: split, step counts, verdict, the validation curve, rejections."""
    lines = [str(result)]
    if len(result.steps):
        curve = result.curve()
        if len(curve):
            lines += ["validation curve:", curve.to_string(index=False)]
        rejected = result.rejected()
        if len(rejected):
            lines.append(f"rejected by a guard: {len(rejected)}")
            lines += [f"  step {r.step}: {r.reason}" for r in rejected.itertuples()]
    if result.improved and not result.stopped:
        lines += ["change to the prompt:", result.diff() or "(none)"]
    return "\n".join(lines)


def run_report(db_path: Path, run: str, per_task: bool = False) -> str:
    """`show RUN`: the report of a past run, read from the log."""
    found = _require(db_path, run)
    past = open_run(db_path, run)
    head = f"{found['kind']} run '{run}' ({found['status']}, started {found['created_at']:%Y-%m-%d %H:%M})"
    if found["kind"] == "reflect":
        return head + "\n" + reflect_report(past)
    if not past.results():
        return head + "\nno trials finished yet"
    text = head + "\n" + comparison_report(past)
    if per_task:
        text += "\n\n" + past.per_task().round(2).to_string()
    return text


def adopt_run(
    db_path: Path,
    run: str,
    pick: str | None = None,
    as_name: str | None = None,
    workspace: Path | None = None,
) -> Path:
    """Write a past run's winner into the workspace; returns its `.claw/prompts/NAME.toml`."""
    past = open_run(db_path, run)
    workspace = Path(workspace or Path.cwd())
    if hasattr(past, "best_texts"):  # reflect: only a gain that held on held-out tasks
        if pick is not None:
            raise ConfigError("--pick chooses among a compare's or sweep's variants, not reflect's")
        name = as_name or run
        past.adopt(name, workspace=workspace)
    else:
        if past.experiment.stopped:
            raise ConfigError(
                f"run '{run}' stopped before it finished: resume it first (the same command "
                f"with --name {run}), then adopt"
            )
        chosen = past.best() if pick is None else None
        name = as_name or (pick if pick is not None else chosen.name)
        past.adopt(pick, name=name, workspace=workspace)
    return workspace / PROMPTS_DIR / f"{name}.toml"
