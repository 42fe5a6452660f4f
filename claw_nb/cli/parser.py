"""`claw-nb`'s command line: the options of every command, each built when it is chosen."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb.cli import acp, calibrate, hooks, mcp, models, rewind
from claw_nb.permissions import MODES

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """Bad options get one line, not the whole usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from claw_nb.cli.formats import OUTPUT_FORMATS
    from claw_nb.cli.lab import add_lab_parser, deferring

    parser = OneLineParser(
        prog="claw-nb", description="A coding agent for local and cloud models, logged to DuckDB."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=deferring(OneLineParser)
    )

    run = sub.add_parser("run", help="run the agent on a task")
    run.add_argument("task", nargs="+", help="what the agent should do; - reads it from stdin")
    run.add_argument(
        "--model",
        help="LiteLLM model string, or local/NAME for a GGUF in the "
        "models folder (env CLAW_MODEL; default: a local server, else embedded)",
    )
    run.add_argument("--api-base", help="model server URL (env CLAW_API_BASE)")
    run.add_argument("--api-key", help="API key (env CLAW_API_KEY)")
    run.add_argument("--cwd", type=Path, help="workspace directory (default: current directory)")
    run.add_argument("--db", type=Path, help="DuckDB log file (env CLAW_DB)")
    run.add_argument("--max-steps", type=int, help="most model calls for this task (default 50)")
    stream = run.add_mutually_exclusive_group()
    stream.add_argument(
        "--stream",
        dest="stream",
        action="store_true",
        default=None,
        help="stream the model's reply (default)",
    )
    stream.add_argument("--no-stream", dest="stream", action="store_false")
    run.add_argument("--num-ctx", type=int, help="context window to ask Ollama for (default 32768)")
    run.add_argument(
        "--context-window",
        type=int,
        metavar="TOKENS",
        help="the model's window for context management (default: from LiteLLM's "
        "model info, num_ctx for Ollama, else 32768)",
    )
    run.add_argument(
        "--mode",
        choices=list(MODES),
        help="permission mode (default: ask, or the settings file's)",
    )
    run.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="approve every action that would ask (deny rules still deny), and start the "
        "workspace's MCP servers and run its hooks for this run",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="print only the final answer")
    run.add_argument(
        "--output-format",
        choices=OUTPUT_FORMATS,
        default="text",
        help="text for people (default); json: one result object at the end; stream-json: "
        "one JSON object per line as the run goes (see docs/headless.md)",
    )
    run.add_argument(
        "--resume",
        metavar="ID",
        help="continue a logged session (a unique prefix of its id; see `sessions`)",
    )

    sub.add_parser("sessions", help="list logged sessions", build=_sessions_options)
    sub.add_parser("stats", help="token, time and error figures from the log", build=_stats_options)
    for name, help_text, add in (
        ("models", models.HELP, models.add_parser),
        ("calibrate", calibrate.HELP, calibrate.add_parser),
        ("mcp", mcp.HELP, mcp.add_parser),
        ("hooks", hooks.HELP, hooks.add_parser),
        ("acp", acp.HELP, acp.add_parser),
    ):
        _later(sub, name, help_text, add)
    sub.add_parser("show", help="replay a logged session", build=_show_options)
    _later(sub, "rewind", rewind.HELP, rewind.add_rewind_parser)

    add_lab_parser(sub)
    return parser


def _later(sub: Any, name: str, help_text: str, add: Callable[[Any], None]) -> None:
    """`name`, its options added by its module's ``add(sub)`` when it is chosen or its help
    shown: building every command's options cost `claw-nb run` ~6 ms."""
    sub.add_parser(name, help=help_text, build=lambda parser: add(_MadeParser(parser)))


class _MadeParser:
    """The subparsers action a module's ``add_parser(sub)`` expects, for one parser already
    made: its ``add_parser`` hands that parser back (with the description it was given)."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_parser(self, name: str, **options: Any) -> argparse.ArgumentParser:
        if options.get("description"):
            self.parser.description = options["description"]
        return self.parser


def _sessions_options(sessions: argparse.ArgumentParser) -> None:
    sessions.add_argument("--cwd", type=Path)
    sessions.add_argument("--db", type=Path)
    sessions.add_argument("--limit", type=int, default=20)


def _stats_options(stats: argparse.ArgumentParser) -> None:
    stats.add_argument("--cwd", type=Path)
    stats.add_argument("--db", type=Path)
    stats.add_argument(
        "--by",
        choices=["session", "model", "prompt", "tool", "step", "split"],
        default="session",
        help="what to summarise (default: session)",
    )
    stats.add_argument("--session", help="only this session")
    stats.add_argument(
        "--export", type=Path, metavar="DIR", help="also write every table as Parquet into DIR"
    )


def _show_options(show: argparse.ArgumentParser) -> None:
    show.add_argument("session_id")
    show.add_argument("--cwd", type=Path)
    show.add_argument("--db", type=Path)
