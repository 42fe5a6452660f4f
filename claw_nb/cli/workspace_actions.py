"""The shape `claw-nb mcp` and `claw-nb hooks` share: a command with actions, each of which
takes `--cwd` (the workspace) before or after its own words."""

from __future__ import annotations

import argparse
from pathlib import Path


def workspace_command(
    sub: argparse._SubParsersAction, name: str, help_text: str, dest: str
) -> tuple[argparse._SubParsersAction, argparse.ArgumentParser]:
    """(the command's action parsers, the parent each action takes for `--cwd`)."""
    command = sub.add_parser(name, help=help_text)
    command.add_argument(
        "--cwd", type=Path, help="workspace directory (default: current directory)"
    )
    command.set_defaults(db=None)
    # each action takes --cwd too (after its words); SUPPRESS keeps one given before the action
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--cwd", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return command.add_subparsers(dest=dest, metavar="ACTION"), where
