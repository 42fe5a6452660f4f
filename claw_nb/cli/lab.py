"""`claw-nb lab`: check a task suite, run an experiment with live progress, print a report,
fork a logged trial (`claw_nb.cli.lab_fork`)."""

from __future__ import annotations

import argparse
import sys

from claw_nb.errors import ClawError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_lab_parser(sub: argparse._SubParsersAction) -> None:
    """`lab`, its commands added when it is chosen or its help shown (``sub`` makes
    :func:`deferring` parsers): other commands do not import the lab's option tables."""
    sub.add_parser(
        "lab", help="the prompt lab: check tasks, run experiments, report", build=_lab_commands
    )


def _lab_commands(lab: argparse.ArgumentParser) -> None:
    """`lab`'s commands, options from the table the notebook's `%claw lab` reads too
    (`claw_nb.lab.command_options`); `optimize` has a table of its own."""
    from claw_nb.lab.command_options import add_lab_commands

    cmds = lab.add_subparsers(
        dest="lab_command",
        required=True,
        metavar="LAB_COMMAND",
        parser_class=deferring(type(lab)),
    )
    add_lab_commands(cmds, "cli")

    from claw_nb.cli.lab_optimize import add_parser

    add_parser(cmds, type(lab))


def deferring(parser_class: type) -> type:
    """``parser_class`` whose instances take ``build=fn``: fn(parser) adds the options the
    first time the parser parses or shows its help. The top-level help lists a subcommand
    from its ``help=`` alone, so an expensive one costs nothing until it is chosen."""

    class DeferredParser(parser_class):
        def __init__(self, *args, build=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._build = build

        def _built(self) -> None:
            build, self._build = self._build, None
            if build is not None:
                build(self)

        def parse_known_args(self, args=None, namespace=None):
            self._built()
            return super().parse_known_args(args, namespace)

        def format_usage(self) -> str:
            self._built()
            return super().format_usage()

        def format_help(self) -> str:
            self._built()
            return super().format_help()

    DeferredParser.__name__ = DeferredParser.__qualname__ = f"Deferred{parser_class.__name__}"
    return DeferredParser


def run_lab_command(args: argparse.Namespace) -> int:
    from claw_nb.cli.lab_fork import run_fork, run_fork_failures
    from claw_nb.cli.lab_optimize import run_optimize_command

    handler = {
        "check": _check,
        "run": _run,
        "report": _report,
        "plan": _plan,
        "fork": run_fork,
        "fork-failures": run_fork_failures,
        "optimize": run_optimize_command,
    }[args.lab_command]
    try:
        return handler(args)
    except ClawError as exc:
        print(f"claw-nb lab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("claw-nb lab: interrupted", file=sys.stderr)
        return 130


def _check(args: argparse.Namespace) -> int:
    from claw_nb.lab.tasks import load_tasks
    from claw_nb.lab.verify import check_tasks

    tasks = load_tasks(args.tasks)
    print(f"checking {len(tasks)} task(s): the oracle must score 1, the untouched workspace 0")

    def show(result) -> None:
        mark = "ok  " if result.ok else "FAIL"
        print(
            f"{mark} {result.task}  oracle {result.oracle_reward:g}  untouched "
            f"{result.untouched_reward:g}",
            flush=True,
        )
        for problem in result.problems:
            print(f"     {problem}")

    results = check_tasks(tasks, unsandboxed=args.unsandboxed, workers=args.workers, on_result=show)
    bad = [r.task for r in results if not r.ok]
    if bad:
        print(f"{len(bad)} of {len(results)} task(s) refused: {', '.join(bad)}")
        return EXIT_FAILED
    print(f"all {len(results)} task(s) pass")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import run_lab
    from claw_nb.lab.progress import TerminalProgress
    from claw_nb.stop import StopToken, sigint_stops

    with sigint_stops(StopToken()) as stop:  # Ctrl-C stops the run; a second one aborts it
        exp = run_lab(
            args,
            TerminalProgress,
            db_path=args.db,
            model=args.model,
            api_base=args.api_base,
            api_key=args.api_key,
            stop=stop,
        )
    print(f"experiment {exp.name} in {exp.db_path}")
    if exp.results():
        _print_leaderboard(exp, None)
    return EXIT_FAILED if exp.stopped else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from claw_nb.lab.experiment import list_experiments, open_experiment

    name = args.experiment
    if name is None:
        names = list_experiments(args.db)
        if not names:
            raise ClawError("no experiments in the log yet: run `claw-nb lab run` first")
        name = names[-1]
    exp = open_experiment(name, args.db)
    print(f"experiment {exp.name} ({len(exp.results())} trials)")
    _print_leaderboard(exp, args.baseline)
    if args.per_task:
        print()
        print(exp.per_task().round(2).to_string())
    return EXIT_OK


def _print_leaderboard(exp, baseline: str | None) -> None:
    print(format_leaderboard(exp.leaderboard(baseline=baseline)))


TAMPER_NOTE = (
    "tampered: {n} trial(s) changed what decides their verdict (tests, conftest.py, pytest "
    "settings, import hooks); see Experiment.frame()['tamper']. Optimizers score them 0."
)


def format_leaderboard(board) -> str:
    """The leaderboard's main columns as aligned text."""
    wanted = [
        "variant",
        "trials",
        "pass_rate",
        "lo",
        "hi",
        "pass@k",
        "pass^k",
        "tokens_per_solved",
        "prefill_per_solved",
        "seconds_per_solved",
        "model_s_per_solved",
        "cache_breaks_per_trial",
        "tool_error_rate",
        "diff",
        "diff_lo",
        "diff_hi",
        "p_holm",
        "wins",
        "losses",
        "ties",
        "tampered",
        "stuck",
    ]
    tampered = int(board["tampered"].sum()) if "tampered" in board else 0
    stuck = int(board["stuck"].sum()) if "stuck" in board else 0
    shown = {"tampered": tampered, "stuck": stuck}  # only when some trial was
    columns = [c for c in wanted if c in board.columns and shown.get(c, 1)]
    text = board[columns].to_string(index=False, float_format=lambda x: f"{x:.3g}")
    notes = (
        [n for n in board.get("note", []) if isinstance(n, str) and n] if "note" in board else []
    )
    if "small_sample" in board and bool(board["small_sample"].any()):
        notes.append("small sample: differences this size may be noise (claw-nb lab plan N)")
    if tampered:
        notes.append(TAMPER_NOTE.format(n=tampered))
    return text + ("\n" + "\n".join(dict.fromkeys(notes)) if notes else "")


def _plan(args: argparse.Namespace) -> int:
    from claw_nb.lab.command import plan_text

    print(plan_text(args.tasks, args.repeats))
    return EXIT_OK
