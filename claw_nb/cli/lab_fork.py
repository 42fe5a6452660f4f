"""`claw-nb lab fork` and `lab fork-failures`: replay a logged trial up to a step and let a
variant take over (`claw_nb.lab.fork`). The words come from the lab's one table
(`claw_nb.lab.command_options`) and are checked by `claw_nb.lab.fork.command`; this module only
prints."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED = 0, 1


def run_fork(args: argparse.Namespace) -> int:
    """`lab fork`: a line per fork (its session id and verdict) and each divergence."""
    from claw_nb.lab.fork.command import prepare_fork
    from claw_nb.stop import StopToken, sigint_stops

    job = prepare_fork(args, db_path=args.db)
    with sigint_stops(StopToken()) as stop:
        report = job.run(stop=stop)
    for result in report.forks:
        print(result.summary())
        for divergence in result.divergences:
            print(f"  diverged: {divergence.summary()}")
    if report.stopped:
        print("stopped: the fork that was running is not recorded as a trial")
    return EXIT_OK if report.forks and all(r.passed for r in report.forks) else EXIT_FAILED


def run_fork_failures(args: argparse.Namespace) -> int:
    """`lab fork-failures`: the forks next to their originals, then the paired comparison."""
    from claw_nb.lab.fork.command import prepare_fork
    from claw_nb.stop import StopToken, sigint_stops

    job = prepare_fork(args, db_path=args.db)
    with sigint_stops(StopToken()) as stop:
        report = job.run(stop=stop)
    print(report.frame().to_string(index=False))
    print(report.summary())
    return EXIT_OK
