"""`claw-nb lab fork` and `lab fork-failures`: replay a logged trial up to a step and let a
variant take over (`claw_nb.lab.fork`), on the executor `lab run` takes (`--slots N` locally,
`--ray ADDRESS`); the options come from the lab's table (`claw_nb.lab.command_options`). This
module only runs and prints: each fork as the driver records it, then the verdict."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED = 0, 1


def _options(args: argparse.Namespace) -> dict:
    return {
        "repeats": args.repeats,
        "db_path": args.db,
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key,
        "unsandboxed": args.unsandboxed,
    }


def _show(result) -> None:
    print(result.summary(), flush=True)
    for divergence in result.divergences:
        print(f"  diverged: {divergence.summary()}", flush=True)


def run_fork(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import parse_variant, trial_executor
    from claw_nb.lab.fork.run import fork
    from claw_nb.stop import StopToken, sigint_stops

    variant = parse_variant(args.variant)
    with sigint_stops(StopToken()) as stop, trial_executor(args.ray, args.slots) as executor:
        results = fork(
            args.session,
            args.at_step,
            variant,
            experiment=args.forks_experiment,
            executor=executor,
            stop=stop,
            on_result=_show,
            **_options(args),
        )
    if stop.stopped:
        print(f"stopped: {len(results)} of {args.repeats} fork(s) finished")
        return EXIT_FAILED
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def run_fork_failures(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import parse_variant, trial_executor
    from claw_nb.lab.fork.failures import fork_failures
    from claw_nb.stop import StopToken, sigint_stops

    variant = parse_variant(args.variant)
    with sigint_stops(StopToken()) as stop, trial_executor(args.ray, args.slots) as executor:
        report = fork_failures(
            args.experiment,
            variant,
            forks_experiment=args.forks_experiment,
            executor=executor,
            stop=stop,
            on_result=_show,
            **_options(args),
        )
    if report.forks:
        print(report.frame().to_string(index=False))
    print(report.summary())
    return EXIT_FAILED if report.stopped else EXIT_OK
