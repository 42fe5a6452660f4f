"""What the lab's commands share, for both shells: the words that name tasks and variants, the
trials' executor, and `lab run` itself.

`claw-nb lab run` and `%claw lab run` parse their words and call :func:`run_lab`; they only
print (`claw_nb.cli.lab`, `claw_nb.jupyter.lab_view`). The optimizers' command
(`claw_nb.lab.optimize.command`) reads tasks and variants the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.errors import ConfigError

if TYPE_CHECKING:
    from claw_nb.stop import StopToken


def parse_variant(text: str) -> Any:
    """``NAME=FILE.toml`` -> Variant from the file; ``NAME`` -> the defaults under that name."""
    from claw_nb.lab.variants import Variant

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
    """`lab run` for both shells; returns the Experiment.

    `args`: the shell's parsed words (tasks, variant, only, repeats, experiment, ray, slots,
    unsandboxed); `make_progress`: the shell's display, made once the words are checked; the
    log and the model come from the shell (its options or its settings); `stop`: the command's
    token, which the shell stops on Ctrl-C or a kernel interrupt.
    """
    from claw_nb.lab.runner import run_experiment

    tasks = select_tasks(args.tasks, args.only)
    variants = [parse_variant(v) for v in args.variant or ["default"]]
    progress = make_progress()
    with trial_executor(args.ray, args.slots) as executor:
        return run_experiment(
            tasks,
            variants,
            repeats=args.repeats,
            experiment=args.experiment,
            db_path=db_path,
            executor=executor,
            unsandboxed=args.unsandboxed,
            model=model,
            api_base=api_base,
            api_key=api_key,
            progress=progress,
            stop=stop,
        )
