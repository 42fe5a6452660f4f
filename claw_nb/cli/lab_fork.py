"""`claw-nb lab fork` and `lab fork-failures`: replay a logged trial up to a step and let a
variant take over (`claw_nb.lab.fork`); this module only parses and prints."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(cmds: argparse._SubParsersAction, model_options) -> None:
    one = cmds.add_parser(
        "fork", help="replay a trial up to step K, then a variant takes over; prints the verdict"
    )
    one.add_argument("session", help="the trial's session id (or a unique prefix)")
    one.add_argument(
        "--at-step", type=int, required=True, metavar="K", help="the step the variant takes over"
    )
    _common(one, model_options)

    failures = cmds.add_parser(
        "fork-failures",
        help="fork every failed trial at its first failing step; compare with the originals",
    )
    failures.add_argument("experiment", help="the experiment whose failed trials are forked")
    _common(failures, model_options)


def _common(parser: argparse.ArgumentParser, model_options) -> None:
    parser.add_argument(
        "--variant",
        required=True,
        metavar="NAME=FILE.toml",
        help="the variant that takes over (NAME alone: the defaults)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="forks per trial (1)")
    parser.add_argument(
        "--experiment-name",
        dest="forks_experiment",
        metavar="NAME",
        help="the forks' experiment (default: the original's name + '-forks')",
    )
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        default=None,
        help="replay and run without bubblewrap (default: as the original experiment ran)",
    )
    model_options(parser)


def _options(args: argparse.Namespace) -> dict:
    return {
        "repeats": args.repeats,
        "db_path": args.db,
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key,
        "unsandboxed": args.unsandboxed,
    }


def run_fork(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import parse_variant
    from claw_nb.lab.fork.run import fork
    from claw_nb.stop import StopToken, sigint_stops

    variant = parse_variant(args.variant)
    with sigint_stops(StopToken()) as stop:
        results = fork(
            args.session,
            args.at_step,
            variant,
            experiment=args.forks_experiment,
            stop=stop,
            **_options(args),
        )
    for result in results:
        print(result.summary())
        for divergence in result.divergences:
            print(f"  diverged: {divergence.summary()}")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def run_fork_failures(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import parse_variant
    from claw_nb.lab.fork.failures import fork_failures
    from claw_nb.stop import StopToken, sigint_stops

    variant = parse_variant(args.variant)
    with sigint_stops(StopToken()) as stop:
        report = fork_failures(
            args.experiment,
            variant,
            forks_experiment=args.forks_experiment,
            stop=stop,
            **_options(args),
        )
    print(report.frame().to_string(index=False))
    print(report.summary())
    return EXIT_OK
