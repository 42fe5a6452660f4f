"""`%claw lab ...` in a notebook: a live view of a lab run (progress bar, running trials, a
leaderboard that fills in), as widgets in a live kernel and as plain text under nbconvert.

    %claw lab run builtin --variant base --variant terse=terse.toml --repeats 3
    %claw lab report EXPERIMENT
    %claw lab check builtin
    %claw lab optimize compare builtin --variant base --variant terse=terse.toml --repeats 3

Interrupting the kernel (its stop button) stops the cell's token: the run ends cleanly at its
next safe point (a second interrupt aborts it); running the cell again resumes.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from claw_nb.errors import ClawError
from claw_nb.jupyter.lab_optimize import add_parser as add_optimize_parser
from claw_nb.jupyter.lab_optimize import help_text as optimize_help
from claw_nb.jupyter.lab_optimize import run_optimize_magic
from claw_nb.lab.progress import Progress
from claw_nb.stop import StopToken, sigint_stops

LEADERBOARD_EVERY_S = 2.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ClawError(f"%claw lab: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%claw lab", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", add_help=False)
    run.add_argument("tasks")
    run.add_argument("--variant", action="append", default=[])
    run.add_argument("--repeats", type=int, default=1)
    run.add_argument("--experiment")
    run.add_argument("--only", action="append", default=[])
    run.add_argument("--ray")
    run.add_argument("--slots", type=int)
    run.add_argument("--unsandboxed", action="store_true")
    report = sub.add_parser("report", add_help=False)
    report.add_argument("experiment", nargs="?")
    report.add_argument("--baseline")
    check = sub.add_parser("check", add_help=False)
    check.add_argument("tasks")
    check.add_argument("--unsandboxed", action="store_true")
    add_optimize_parser(sub, _Parser)
    return parser


def run_lab_magic(words: list[str], config: Any, widgets: bool) -> Any:
    """Run ``%claw lab WORDS`` with the magics' settings (``config``: a ClawConfig)."""
    if words[:1] == ["optimize"] and words[1:] in ([], ["help"], ["-h"], ["--help"]):
        print(optimize_help())
        return None
    args = _parser().parse_args(words)
    if args.command == "check":
        return _check(args)
    if args.command == "report":
        return _report(args, config)
    view = WidgetLabView if widgets else TextLabView
    if args.command == "optimize":
        return run_optimize_magic(args, config, view)
    return _run(args, config, view)


def _run(args: argparse.Namespace, config: Any, view: type[Progress]) -> Any:
    from claw_nb.lab.command import run_lab

    with sigint_stops(StopToken()) as stop:  # the kernel's interrupt stops this cell's run
        return run_lab(
            args,
            view,
            db_path=config.resolved_db_path,
            model=config.model,
            api_base=config.api_base,
            api_key=config.api_key,
            stop=stop,
        )


def _report(args: argparse.Namespace, config: Any) -> Any:
    from claw_nb.lab.experiment import list_experiments, open_experiment

    name = args.experiment or (list_experiments(config.resolved_db_path) or [None])[-1]
    if name is None:
        raise ClawError("no experiments in the log yet: `%claw lab run TASKS` first")
    return open_experiment(name, config.resolved_db_path).leaderboard(baseline=args.baseline)


def _check(args: argparse.Namespace) -> Any:
    import pandas as pd

    from claw_nb.lab.tasks import load_tasks
    from claw_nb.lab.verify import check_tasks

    def show(result: Any) -> None:
        print(
            ("ok   " if result.ok else "FAIL ")
            + result.task
            + "".join(f"\n     {p}" for p in result.problems),
            flush=True,
        )

    results = check_tasks(load_tasks(args.tasks), unsandboxed=args.unsandboxed, on_result=show)
    return pd.DataFrame(
        [
            {
                "task": r.task,
                "oracle": r.oracle_reward,
                "untouched": r.untouched_reward,
                "ok": r.ok,
                "problems": "; ".join(r.problems),
            }
            for r in results
        ]
    )


def _leaderboard(results: list) -> Any:
    from claw_nb.lab import statistics

    board = statistics.leaderboard(results)
    keep = [
        c
        for c in (
            "variant",
            "trials",
            "pass_rate",
            "lo",
            "hi",
            "tokens_per_solved",
            "diff",
            "p_holm",
            "tampered",
        )
        if c in board.columns and (c != "tampered" or board[c].any())
    ]
    return board[keep]


class TextLabView(Progress):
    """Plain text (nbconvert, a terminal-less kernel): a line per finished trial, the bar
    every few seconds, the leaderboard at the end."""

    def __init__(self, every_s: float = 10.0):
        super().__init__()
        self.every_s = every_s
        self._printed = 0
        self._last_bar = time.monotonic()

    def restart(self) -> None:
        self._printed = 0

    def refresh(self) -> None:
        results, _ = self.snapshot()
        for r in results[self._printed :]:
            print(
                f"{r.variant} / {r.task} #{r.repeat}: reward {r.reward:g} ({r.stop_reason}, "
                f"{r.steps} steps, {r.wall_s:.1f} s)",
                flush=True,
            )
        self._printed = len(results)
        if time.monotonic() - self._last_bar > self.every_s:
            self._last_bar = time.monotonic()
            print(self.bar(), flush=True)

    def end(self, stopped: bool) -> None:
        super().end(stopped)
        print(f"{self.experiment}: {self.bar()}")
        if stopped:
            print("stopped: run the same cell again to resume (finished trials are kept)")
        results, _ = self.snapshot()
        if results:
            print(_leaderboard(results).to_string(index=False, float_format=lambda x: f"{x:.3g}"))


class WidgetLabView(Progress):
    """ipywidgets: a progress bar with ETA, a line per running trial, a live leaderboard."""

    def __init__(self) -> None:
        super().__init__()
        import ipywidgets as w
        from IPython.display import display

        self.bar_widget = w.IntProgress(
            min=0, max=1, value=0, description="trials", layout=w.Layout(width="60%")
        )
        self.status = w.HTML()
        self.running_html = w.HTML()
        self.board = w.Output()
        self.box = w.VBox([w.HBox([self.bar_widget, self.status]), self.running_html, self.board])
        self._board_at = 0.0
        self._board_count = -1
        self.latest_board: Any = None
        display(self.box)

    def restart(self) -> None:
        self._board_count = -1

    def refresh(self) -> None:
        import html

        self.bar_widget.max = max(self.todo, 1)
        self.bar_widget.value = self.done
        self.status.value = html.escape(self.bar(width=0).split("] ", 1)[-1])
        lines = self.running_lines()
        self.running_html.value = (
            ("<pre style='margin:0'>" + html.escape("\n".join(lines)) + "</pre>") if lines else ""
        )
        now = time.monotonic()
        if self.done != self._board_count and (
            now - self._board_at > LEADERBOARD_EVERY_S or self.done == self.todo
        ):
            self._board_at, self._board_count = now, self.done
            self._draw_board()

    def _draw_board(self) -> None:
        from IPython.display import display

        results, _ = self.snapshot()
        if not results:
            return
        self.latest_board = _leaderboard(results)
        with self.board:
            self.board.clear_output(wait=True)
            display(self.latest_board)

    def end(self, stopped: bool) -> None:
        super().end(stopped)
        self.bar_widget.bar_style = "warning" if stopped else "success"
        self._draw_board()
        if stopped:
            self.status.value += " &mdash; stopped; run the cell again to resume"
