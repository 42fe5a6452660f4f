"""`lab fork` and `lab fork-failures` for both shells: check the words, then run.

`claw-nb lab fork ...` (claw_nb.cli.lab_fork) and `%claw lab fork ...`
(claw_nb.jupyter.lab_fork) parse their words from one table (`claw_nb.lab.command_options`)
and call :func:`prepare_fork` for a checked :class:`ForkJob`: the session or experiment, the
step, the variant file, the repeats and the sandbox are checked before anything runs, so a
shell can say what is wrong on one line (not from a background thread). Then
`job.run(progress, stop)` forks on the executor `lab run` takes (`--slots N` locally, default
the model server's slots; `--ray ADDRESS`) and returns the forks compared with their originals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_nb.lab.fork.plan import ForkPoint, check_forkable, fork_point
from claw_nb.lab.fork.report import ForkReport, compare_forks
from claw_nb.lab.fork.run import ForkResult, run_forks
from claw_nb.lab.variants import Variant
from claw_nb.records import record

if TYPE_CHECKING:
    from claw_nb.stop import StopToken


@record(frozen=True)
class ForkJob:
    """Checked forks, not started yet. `lab fork` has its point (read and checked);
    `lab fork-failures` has its experiment's failed sessions, whose trajectories are read when
    the job runs (in the notebook's background: many trials are many reads of the log)."""

    kind: str  # "fork" or "fork-failures"
    what: str  # what is forked, as the report says it
    name: str  # the forks' experiment
    variant: Variant
    repeats: int
    db_path: Path
    points: tuple[ForkPoint, ...] = ()
    experiment: str | None = None  # fork-failures: the experiment whose failures are forked
    failed: int = 0  # fork-failures: how many failed trials it has
    forks_experiment: str | None = None
    unsandboxed: bool | None = None
    model: str | None = None
    api_base: str | None = None
    api_key: str | None = None
    ray: str | None = None  # the Ray cluster's address; None: a local pool
    slots: int | None = None  # the local pool's size (default: the model server's slots)

    @property
    def plan(self) -> str:
        """One line: what will run, before it runs."""
        if self.points:
            count = f"{len(self.points) * self.repeats} fork(s) of {self.what}"
        else:
            count = (
                f"{self.failed} failed trial(s) of {self.experiment}, {self.repeats} fork(s) each,"
            )
        where = f" on the Ray cluster at {self.ray}" if self.ray else ""
        return f"{self.kind} '{self.name}': {count} under {self.variant.name}{where}"

    def run(
        self,
        progress: Any = None,
        stop: StopToken | None = None,
        on_fork: Callable[[ForkResult], None] | None = None,
    ) -> ForkReport:
        """Fork on this job's executor (each fork recorded as it ends) and compare the forks
        with their originals."""
        from claw_nb.lab.command import trial_executor
        from claw_nb.lab.fork.failures import failure_points

        points = self.points or tuple(failure_points(str(self.experiment), self.db_path))
        with trial_executor(self.ray, self.slots) as executor:
            forks, stopped = run_forks(
                list(points),
                self.variant,
                repeats=self.repeats,
                db_path=self.db_path,
                experiment=self.forks_experiment,
                model=self.model,
                api_base=self.api_base,
                api_key=self.api_key,
                unsandboxed=self.unsandboxed,
                executor=executor,
                progress=progress,
                on_fork=on_fork,
                stop=stop,
            )
        return compare_forks(self.what, self.variant.name, forks, stopped)


def prepare_fork(
    args: Any,
    *,
    db_path: Any = None,
    api_key: str | None = None,
    variant_base: Path | None = None,
) -> ForkJob:
    """Check the words of `lab fork` (args.session, args.at_step) or `lab fork-failures`
    (args.experiment): args.variant, repeats, forks_experiment, unsandboxed, model, api_base,
    and where the forks run (args.ray, args.slots).
    `variant_base`: the folder a relative variant file is read from (the notebook's kernel
    directory; default the current directory), read as every variant file is
    (`claw_nb.lab.command.parse_variant`: its prompt file stays beside it, 1 MiB at most)."""
    from claw_nb.lab.command import parse_variant
    from claw_nb.lab.fork import store
    from claw_nb.lab.fork.failures import failed_sessions
    from claw_nb.log.database import resolve_db_path

    variant = parse_variant(_based(args.variant, variant_base))
    check_forkable(variant, args.repeats)
    path = resolve_db_path(db_path)
    common = {
        "variant": variant,
        "repeats": args.repeats,
        "db_path": path,
        "forks_experiment": args.forks_experiment,
        "unsandboxed": args.unsandboxed,
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key or api_key,
        "ray": args.ray,
        "slots": args.slots,
    }
    if getattr(args, "session", None) is not None:
        point = fork_point(args.session, args.at_step, path)
        original = point.original["config"]
        job = ForkJob(
            "fork",
            f"session {point.session_id} at step {point.at_step}",
            args.forks_experiment or f"{point.experiment}-forks",
            points=(point,),
            **common,
        )
    else:
        failed = failed_sessions(args.experiment, path)
        original = store.experiment_config(path, args.experiment) or {}
        job = ForkJob(
            "fork-failures",
            f"failed trials of {args.experiment}",
            args.forks_experiment or f"{args.experiment}-forks",
            experiment=args.experiment,
            failed=len(failed),
            **common,
        )
    unsandboxed = args.unsandboxed
    if not (bool(original.get("unsandboxed")) if unsandboxed is None else unsandboxed):
        from claw_nb.lab.verify import require_sandbox

        require_sandbox()
    return job


def _based(text: str, base: Path | None) -> str:
    """``NAME=FILE`` with a relative FILE made absolute against `base`."""
    name, sep, file = text.partition("=")
    if not sep or base is None or file.startswith("agent:"):
        return text
    path = Path(file).expanduser()
    return f"{name}={path if path.is_absolute() else base / path}"
