"""`claw-nb lab fork` and `lab fork-failures`: replay a logged trial up to a step and let a
variant take over (`claw_nb.lab.fork`), on the executor `lab run` takes (`--slots N` locally,
`--ray ADDRESS`). The words come from the lab's one table (`claw_nb.lab.command_options`) and
are checked by `claw_nb.lab.fork.command`; this module only prints: each fork as the driver
records it, then the verdict or the comparison."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED = 0, 1


def _show(result) -> None:
    print(result.summary(), flush=True)
    for divergence in result.divergences:
        print(f"  diverged: {divergence.summary()}", flush=True)


def run_fork(args: argparse.Namespace) -> int:
    """`lab fork`: a line per fork (its session id and verdict) and each divergence."""
    from claw_nb.lab.fork.command import prepare_fork
    from claw_nb.stop import StopToken, sigint_stops

    job = prepare_fork(args, db_path=args.db)
    with sigint_stops(StopToken()) as stop:
        report = job.run(stop=stop, on_fork=_show)
    if report.stopped:
        print(
            f"stopped: {len(report.forks)} of {args.repeats} fork(s) finished; a fork cut by "
            "the stop keeps its session but is not recorded as a trial"
        )
        return EXIT_FAILED
    return EXIT_OK if report.forks and all(r.passed for r in report.forks) else EXIT_FAILED


def run_fork_failures(args: argparse.Namespace) -> int:
    """`lab fork-failures`: each fork as it ends, then the forks next to their originals and
    the paired comparison."""
    from claw_nb.lab.fork.command import prepare_fork
    from claw_nb.stop import StopToken, sigint_stops

    job = prepare_fork(args, db_path=args.db)
    with sigint_stops(StopToken()) as stop:
        report = job.run(stop=stop, on_fork=_show)
    if report.forks:
        print(report.frame().to_string(index=False))
    print(report.summary())
    return EXIT_FAILED if report.stopped else EXIT_OK
