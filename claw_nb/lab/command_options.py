"""The one table of `lab` commands and options, for both shells.

`claw-nb lab ...` (claw_nb.cli.lab) and `%claw lab ...` (claw_nb.jupyter.lab_magic) build
their parsers and help from it, so the terminal and the notebook take the same words; an
option only one shell has says so (`shells`). The optimizers' verbs have their own table
(`claw_nb.lab.optimize.command_options`). It lives below the shells because they may not
import each other, and it imports nothing heavy: `claw-nb` builds its parser at every start.
"""

from __future__ import annotations

import argparse
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from claw_nb.records import record

Shell = Literal["cli", "notebook"]
BOTH: tuple[Shell, ...] = ("cli", "notebook")
TASKS_HELP = "'builtin', a task directory, a folder of them, or a JSON/YAML file"
FORKS = ("fork", "fork-failures")


@record(frozen=True)
class LabCommand:
    """One `lab` command: its name, what it does, the shells that have it."""

    name: str
    help: str
    shells: tuple[Shell, ...] = BOTH


COMMANDS: tuple[LabCommand, ...] = (
    LabCommand("check", "the oracle must score 1 and the untouched workspace 0, for every task"),
    LabCommand("run", "run variants on tasks, with repeats; resumable"),
    LabCommand("report", "the leaderboard of an experiment"),
    LabCommand("plan", "the smallest difference a suite size can detect"),
    LabCommand("fork", "replay a trial up to step K, then a variant takes over; its verdict"),
    LabCommand(
        "fork-failures",
        "fork every failed trial at its first failing step; compare with the originals",
    ),
    LabCommand(
        "stop", "stop the lab runs going on in the background (running and queued)", ("notebook",)
    ),
)


@record(frozen=True)
class LabOption:
    """One option: its flags (a bare name is positional), help, the commands that take it,
    argparse keywords, and the shells that offer it."""

    flags: tuple[str, ...]
    help: str
    commands: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    shells: tuple[Shell, ...] = BOTH

    def usage(self) -> str:
        meta = self.kwargs.get("metavar")
        flag = self.flags[0]
        if not flag.startswith("-"):
            name = meta or flag.upper()
            return f"[{name}]" if self.kwargs.get("nargs") == "?" else name
        if self.kwargs.get("action") is argparse.BooleanOptionalAction:
            return f"{flag}/--no-{flag[2:]}"
        return f"{flag} {meta}" if meta else flag


OPTIONS: tuple[LabOption, ...] = (
    LabOption(("tasks",), TASKS_HELP, ("check", "run"), {"metavar": "TASKS"}),
    LabOption(("tasks",), "number of tasks", ("plan",), {"type": int, "metavar": "N"}),
    LabOption(("experiment",), "its name (default: the latest)", ("report",), {"nargs": "?"}),
    LabOption(
        ("--variant",),
        "a variant's overrides: NAME=FILE.toml (repeatable); NAME alone is the defaults",
        ("run",),
        {"action": "append", "default": [], "metavar": "NAME=FILE.toml"},
    ),
    LabOption(
        ("session",),
        "the trial's session id (or a unique prefix)",
        ("fork",),
        {"metavar": "SESSION"},
    ),
    LabOption(
        ("experiment",),
        "the experiment whose failed trials are forked",
        ("fork-failures",),
        {"metavar": "EXPERIMENT"},
    ),
    LabOption(
        ("--at-step",),
        "the step the variant takes over (1..the trial's steps)",
        ("fork",),
        {"type": int, "required": True, "metavar": "K"},
    ),
    LabOption(
        ("--variant",),
        "the variant that takes over: NAME=FILE.toml, or NAME alone for the defaults",
        FORKS,
        {"required": True, "metavar": "NAME=FILE.toml"},
    ),
    LabOption(
        ("--repeats",),
        "forks of every trial (1)",
        FORKS,
        {"type": int, "default": 1, "metavar": "N"},
    ),
    LabOption(
        ("--experiment-name",),
        "the forks' experiment (default: the original's name + '-forks')",
        FORKS,
        {"dest": "forks_experiment", "metavar": "NAME"},
    ),
    LabOption(
        ("--unsandboxed",),
        "replay and run without bubblewrap (default: as the original experiment ran)",
        FORKS,
        {"action": "store_true", "default": None},
    ),
    LabOption(
        ("--model",),
        "LiteLLM model string for the forks (default: the original experiment's)",
        FORKS,
        {"metavar": "MODEL"},
    ),
    LabOption(
        ("--api-base",),
        "model server URL (default: the original experiment's)",
        FORKS,
        {"metavar": "URL"},
    ),
    LabOption(
        ("--repeats",),
        "runs of every variant on every task (1)",
        ("run", "plan"),
        {"type": int, "default": 1, "metavar": "N"},
    ),
    LabOption(
        ("--experiment",),
        "experiment name (the same name again resumes it)",
        ("run",),
        {"metavar": "NAME"},
    ),
    LabOption(
        ("--only",),
        "only this task (repeatable)",
        ("run",),
        {"action": "append", "default": [], "metavar": "TASK"},
    ),
    LabOption(
        ("--ray",),
        "run trials (forks) on this Ray cluster ('auto': the one on this machine)",
        ("run", *FORKS),
        {"metavar": "ADDRESS"},
    ),
    LabOption(
        ("--slots",),
        "trials (forks) at once locally (default: $CLAW_LAB_SLOTS, [lab] slots, or 1)",
        ("run", *FORKS),
        {"type": int, "metavar": "N"},
    ),
    LabOption(
        ("--unsandboxed",),
        "run trials without bubblewrap (their commands run unconfined)",
        ("run",),
        {"action": "store_true"},
    ),
    LabOption(
        ("--unsandboxed",),
        "run verifiers without bubblewrap (only when you must)",
        ("check",),
        {"action": "store_true"},
    ),
    LabOption(
        ("--workers",),
        "tasks checked at once (2)",
        ("check",),
        {"type": int, "default": 2, "metavar": "N"},
    ),
    LabOption(
        ("--model",),
        "LiteLLM model string for the trials (default: the configured model)",
        ("run",),
        {"metavar": "MODEL"},
    ),
    LabOption(
        ("--api-base",),
        "model server URL (default: the configured one)",
        ("run",),
        {"metavar": "URL"},
    ),
    LabOption(
        ("--api-key",),
        "API key (default: the configured one)",
        ("run", *FORKS),
        {"metavar": "KEY"},
    ),
    LabOption(
        ("--wait",),
        "wait for the end, or return at once and run in the background "
        "(default: background with the widget view, wait with text)",
        ("run", *FORKS),
        {"action": argparse.BooleanOptionalAction, "default": None},
        ("notebook",),
    ),
    LabOption(
        ("--baseline",),
        "the variant the others are compared with (default: the first)",
        ("report",),
        {"metavar": "VARIANT"},
    ),
    LabOption(
        ("--per-task",), "also the variant x task table", ("report",), {"action": "store_true"}
    ),
    LabOption(
        ("--all",),
        "every column of the leaderboard, as a DataFrame (raw numbers)",
        ("report",),
        {"action": "store_true", "dest": "all_columns"},
        ("notebook",),
    ),
    LabOption(
        ("--db",),
        "DuckDB log file (default: env CLAW_DB or the workspace's)",
        ("run", "report", *FORKS),
        {"type": Path, "metavar": "FILE"},
    ),
)


def commands_for(shell: Shell) -> list[LabCommand]:
    return [c for c in COMMANDS if shell in c.shells]


def options_for(command: str, shell: Shell) -> list[LabOption]:
    return [o for o in OPTIONS if command in o.commands and shell in o.shells]


def add_lab_commands(
    subparsers: argparse._SubParsersAction, shell: Shell, add_help: bool = True
) -> None:
    """Add every command of `shell` with its options, from the tables, to `subparsers`."""
    for command in commands_for(shell):
        parser = subparsers.add_parser(
            command.name, help=command.help, description=command.help, add_help=add_help
        )
        for option in options_for(command.name, shell):
            parser.add_argument(*option.flags, help=option.help, **option.kwargs)


def lab_help(prefix: str, shell: Shell, command: str | None = None) -> str:
    """Every command of `shell` (or one) with its options, from the tables."""
    lines = []
    for cmd in commands_for(shell):
        if command is not None and cmd.name != command:
            continue
        options = options_for(cmd.name, shell)
        positional = " ".join(o.usage() for o in options if not o.flags[0].startswith("-"))
        lines.append(f"{prefix} {cmd.name} {positional}".rstrip() + f": {cmd.help}")
        for option in options:
            if option.flags[0].startswith("-"):
                lines.append(f"    {option.usage():<26}{option.help}")
    return "\n".join(lines) + "\n"
