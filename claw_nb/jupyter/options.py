"""The one table of `%%claw` options and `%claw` subcommands: the parser and `%claw help` read it.

Adding an option here adds it to the parser (through IPython's `magic_arguments`, so `%claw?`
documents it) and to the help text; nothing else lists them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from claw_nb.records import record

UI_CHOICES = ("auto", "widget", "text")
_TOKEN = re.compile(r"""(?:[^\s"']+|"[^"]*"|'[^']*')+|["'][^\s]*""")
# Settings `%claw config` can change, beyond these traitlets go to ClawMagics.options.
TRAIT_SETTINGS = (
    "model",
    "api_base",
    "api_key",
    "mode",
    "max_steps",
    "stream",
    "ui",
    "db",
    "workspace",
    "quiet",
)


@record(frozen=True)
class CellOption:
    """One `%%claw` option: its flag, how the help shows its value, and argparse keywords."""

    flag: str
    help: str
    metavar: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def usage(self) -> str:
        return f"{self.flag} {self.metavar}" if self.metavar else self.flag


CELL_OPTIONS: tuple[CellOption, ...] = (
    CellOption("--model", "LiteLLM model string for this cell", "NAME"),
    CellOption("--mode", "permissions: ask, accept-edits, auto, read-only, plan", "MODE"),
    CellOption("--new", "start a fresh conversation", kwargs={"action": "store_true"}),
    CellOption("--session", "continue the logged session ID", "ID"),
    CellOption("--max-steps", "most model calls for this task", "N", {"type": int}),
    CellOption(
        "--quiet", "show only the final answer", kwargs={"action": "store_true", "default": None}
    ),
    CellOption("--ui", "live widgets, or a plain-text transcript", "auto|widget|text"),
    CellOption("--api-base", "model server URL for this cell", "URL"),
)


@record(frozen=True)
class Subcommand:
    name: str
    usage: str  # what follows `%claw NAME`
    help: str
    takes_arguments: bool = True


SUBCOMMAND_TABLE: tuple[Subcommand, ...] = (
    Subcommand("config", "[KEY=VALUE ...]", "show or set settings for this kernel (KEY= resets)"),
    Subcommand("model", "[NAME | --list]", "show or set the model; --list: the models found"),
    Subcommand("sessions", "[N] [--all]", "logged sessions, newest first (--all: every column)"),
    Subcommand(
        "log", "[ID] [--all]", "the model and tool calls of a session (--all: every column)"
    ),
    Subcommand("resume", "[ID]", "continue a logged session (default: the latest)"),
    Subcommand("new", "", "the next %%claw starts a fresh conversation", False),
    Subcommand("tools", "", "the agent's tools and what the permission mode does with them", False),
    Subcommand(
        "rules", "[drop N]", "permission rules: saved ones and those Always allow added; drop one"
    ),
    Subcommand(
        "mcp",
        "[list | approve NAME... | revoke NAME... | read SERVER URI | prompt SERVER NAME ...]",
        "MCP servers: state, tools, resources, prompts; approve or revoke one",
    ),
    Subcommand(
        "hooks",
        "[list | approve [ID...] | revoke [ID...]]",
        "the workspace's hooks: commands and approval; approve or revoke them",
    ),
    Subcommand("stop", "", "stop the run in progress (next safe point), cancel queued ones", False),
    Subcommand("compact", "[FOCUS]", "summarise the older turns of the conversation now"),
    Subcommand("undo", "", "undo the last %%claw run: its file changes and its turns", False),
    Subcommand(
        "rewind",
        "[--to-step N] [--keep-files] [--force]",
        "back to step N (default 0): the conversation and, unless --keep-files, the files",
    ),
    Subcommand("status", "", "the conversation and the run in progress", False),
    Subcommand(
        "lab",
        "run|report|check|plan|stop|fork|fork-failures|optimize|help ...",
        "the prompt lab: trials, leaderboards, optimizers (`%claw lab help`)",
    ),
    Subcommand("help", "", "this text", False),
)
SUBCOMMANDS = tuple(s.name for s in SUBCOMMAND_TABLE)
NO_ARGUMENTS = tuple(s.name for s in SUBCOMMAND_TABLE if not s.takes_arguments)


def cell_options(func: Callable) -> Callable:
    """Decorate a magic with every option of `CELL_OPTIONS` (inside `@magic_arguments()`)."""
    for option in reversed(CELL_OPTIONS):
        extra = dict(option.kwargs)
        if option.metavar and "|" not in option.metavar:
            extra["metavar"] = option.metavar
        func = argument(option.flag, help=option.help, **extra)(func)
    return func


def help_text() -> str:
    """`%claw help`: every option and subcommand, from the tables above."""
    width = (
        max(
            [len(o.usage()) + 6 for o in CELL_OPTIONS]
            + [len(f"%claw {s.name} {s.usage}".rstrip()) for s in SUBCOMMAND_TABLE]
        )
        + 2
    )
    lines = [
        "claw: a coding agent in your notebook.",
        "",
        f"  {'%%claw [options] TASK...':<{width}}run a task (the words after the options + the "
        "cell body)",
        f"  {'%claw [options] TASK...':<{width}}the same for a one-line task",
    ]
    lines += [f"      {o.usage():<{width - 4}}{o.help}" for o in CELL_OPTIONS]
    lines.append("")
    lines += [
        f"  {f'%claw {s.name} {s.usage}'.rstrip():<{width}}{s.help}" for s in SUBCOMMAND_TABLE
    ]
    return "\n".join(lines) + "\n"


def split_options(line: str, parser: Any) -> tuple[list[str], str]:
    """Split `%%claw` line into option words and the task text, which is kept verbatim.

    Options come first; the first word that is not an option (or `--`) starts the task.
    """
    tokens = [(m.group(), m.end()) for m in _TOKEN.finditer(line)]
    options: list[str] = []
    end = 0
    i = 0
    while i < len(tokens):
        word, stop = tokens[i]
        if word == "--":
            end = stop
            break
        if not word.startswith("-") or word == "-":
            break
        options.append(word)
        end = stop
        i += 1
        action = parser._option_string_actions.get(word.split("=", 1)[0])
        if action is not None and action.nargs != 0 and "=" not in word and i < len(tokens):
            options.append(tokens[i][0])
            end = tokens[i][1]
            i += 1
    try:
        words = [part for option in options for part in shlex.split(option)]
    except ValueError as exc:
        raise UsageError(f"%%claw: cannot read the options: {exc}") from None
    return words, line[end:].strip()
