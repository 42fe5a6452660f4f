"""What the lab's commands share, for both shells: the words that name tasks and variants, the
trials' executor, and `lab run` itself.

`claw-nb lab run` and `%claw lab run` parse their words (one table:
`claw_nb.lab.command_options`) and call :func:`prepare_run` for a checked :class:`RunJob`,
then `job.run(progress, stop)`: the terminal at once, the notebook now or in the background.
They only print (`claw_nb.cli.lab`, `claw_nb.jupyter.lab_magic`). The optimizers' command
(`claw_nb.lab.optimize.command`) reads tasks and variants the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.errors import ConfigError
from claw_nb.records import record

if TYPE_CHECKING:
    from claw_nb.stop import StopToken


def parse_variant(text: str) -> Any:
    """``NAME=FILE.toml`` -> Variant from the file; ``NAME`` -> the defaults under that name;
    ``NAME=agent:AGENT`` or ``agent:AGENT`` -> a command-line agent's ready variant."""
    from claw_nb.lab.variants import Variant, agent_variant

    if text.startswith("agent:"):
        return agent_variant(text[len("agent:") :])
    name, sep, file = text.partition("=")
    if not name:
        raise ConfigError(f"variant {text!r}: give NAME=FILE.toml or NAME (or NAME=agent:AGENT)")
    if sep and file.startswith("agent:"):
        return agent_variant(file[len("agent:") :], name)
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


@contextmanager
def trial_executor(ray: str | None, slots: int | None) -> Iterator[Any]:
    """The trials' executor for one run: Ray (`--ray ADDRESS`) or local (`--slots N`),
    shut down (without waiting) after."""
    from claw_nb.lab.executors import local_executor, ray_executor

    executor = ray_executor(ray) if ray else local_executor(slots)
    try:
        yield executor
    finally:
        executor.shutdown(wait=False)


@record(frozen=True)
class RunJob:
    """A checked `lab run`, not started yet: every input read, the experiment named."""

    name: str
    tasks: tuple[Any, ...]
    variants: tuple[Any, ...]
    repeats: int
    db_path: Path
    ray: str | None = None
    slots: int | None = None
    unsandboxed: bool = False
    model: str | None = None
    api_base: str | None = None
    api_key: str | None = None

    @property
    def trials(self) -> int:
        return len(self.tasks) * len(self.variants) * self.repeats

    def run(self, progress: Any = None, stop: StopToken | None = None) -> Any:
        """Run (or resume) it with this progress display; returns the Experiment."""
        from claw_nb.lab.runner import run_experiment

        with trial_executor(self.ray, self.slots) as executor:
            return run_experiment(
                list(self.tasks),
                list(self.variants),
                repeats=self.repeats,
                experiment=self.name,
                db_path=self.db_path,
                executor=executor,
                unsandboxed=self.unsandboxed,
                model=self.model,
                api_base=self.api_base,
                api_key=self.api_key,
                progress=progress,
                stop=stop,
            )


def prepare_run(
    args: Any,
    *,
    db_path: Any = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
) -> RunJob:
    """Check `lab run`'s words before anything starts (so a shell can say what is wrong on
    one line, not from a background thread): the tasks, the variants, the repeats, the
    sandbox. `args`: tasks, variant, only, repeats, experiment, ray, slots, unsandboxed; the
    log and the model come from the shell (its options or its settings)."""
    from claw_nb.log.database import resolve_db_path

    tasks = select_tasks(args.tasks, args.only)
    variants = [parse_variant(v) for v in args.variant or ["default"]]
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must be unique, got {names}")
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {args.repeats}")
    if not args.unsandboxed:
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    return RunJob(
        name=args.experiment or time.strftime("exp-%Y%m%d-%H%M%S"),
        tasks=tuple(tasks),
        variants=tuple(variants),
        repeats=args.repeats,
        db_path=resolve_db_path(db_path),
        ray=args.ray,
        slots=args.slots,
        unsandboxed=args.unsandboxed,
        model=model,
        api_base=api_base,
        api_key=api_key,
    )


def run_lab(
    args: Any,
    make_progress: Callable[[], Any],
    *,
    db_path: Any = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    stop: StopToken | None = None,
) -> Any:
    """`lab run` at once (the terminal's way); returns the Experiment. `make_progress`: the
    shell's display, made once the words are checked; `stop`: the command's token, which the
    shell stops on Ctrl-C or a kernel interrupt."""
    job = prepare_run(args, db_path=db_path, model=model, api_base=api_base, api_key=api_key)
    return job.run(make_progress(), stop)


def plan_text(tasks: int, repeats: int = 1) -> str:
    """`lab plan N`: the smallest difference in pass rate a suite this size can detect."""
    from claw_nb.lab.power import minimum_detectable_difference

    mdd = minimum_detectable_difference(tasks, repeats=repeats)
    return (
        f"{tasks} tasks x {repeats} repeat(s): the smallest difference in pass rate "
        f"this can detect (alpha 0.05, power 0.8) is about {mdd * 100:.0f} points"
    )
