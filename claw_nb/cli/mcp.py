"""`claw-nb mcp`: the workspace's MCP servers (list, approve, revoke, read a resource, get a
prompt), and how `claw-nb run` asks about servers nobody has approved yet."""

from __future__ import annotations

import argparse
import sys

from claw_nb.cli.workspace_actions import workspace_command
from claw_nb.config import ClawConfig
from claw_nb.textsafe import show

HELP = "the workspace's MCP servers: list, approve, read, prompts"


def add_parser(sub: argparse._SubParsersAction) -> None:
    actions, where = workspace_command(sub, "mcp", HELP, "mcp_command")
    actions.add_parser(
        "list", parents=[where], help="servers, their state and command, tools, resources, prompts"
    )
    approve = actions.add_parser(
        "approve", parents=[where], help="approve servers by name (shows their commands)"
    )
    approve.add_argument("names", nargs="+", metavar="NAME")
    revoke = actions.add_parser("revoke", parents=[where], help="forget the approval of servers")
    revoke.add_argument("names", nargs="+", metavar="NAME")
    read = actions.add_parser("read", parents=[where], help="print a resource of a server")
    read.add_argument("server")
    read.add_argument("uri")
    prompt = actions.add_parser("prompt", parents=[where], help="print a prompt of a server")
    prompt.add_argument("server")
    prompt.add_argument("name")
    prompt.add_argument("arguments", nargs="*", metavar="KEY=VALUE")


def run(args: argparse.Namespace, config: ClawConfig) -> int:
    from claw_nb.mcp import servers_for
    from claw_nb.mcp.commands import McpCommandError, run_command

    servers = servers_for(config)
    try:
        words = {
            "list": [],
            "approve": getattr(args, "names", []),
            "revoke": getattr(args, "names", []),
            "read": [getattr(args, "server", ""), getattr(args, "uri", "")],
            "prompt": [
                getattr(args, "server", ""),
                getattr(args, "name", ""),
                *getattr(args, "arguments", []),
            ],
        }[args.mcp_command or "list"]
        print(run_command(servers, args.mcp_command or "list", words, confirm=_confirm))
    except McpCommandError as exc:
        print(f"claw-nb mcp: {exc}", file=sys.stderr)
        return 1
    finally:
        if servers is not None:
            servers.close()
    return 0


def _confirm(question: str) -> bool:
    """Ask on a terminal; without one, naming the server on the command line is the yes."""
    if not sys.stdin.isatty():
        return True
    try:
        return input(f"{question} [y/N]: ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def terminal_server_approver(spec) -> str:
    """`claw-nb run` on a terminal: show the exact command of a server nobody approved yet."""
    print(f"\nclaw: MCP server {show(spec.name)} (from {spec.source}) would start:")
    print("  " + show(spec.describe()))
    while True:
        try:
            answer = input("start it? [y]es and remember / [o]nce / [n]o: ").strip().lower()
        except EOFError:
            return "no"
        if answer in ("y", "yes"):
            return "always"
        if answer in ("o", "once"):
            return "yes"
        if answer in ("n", "no", ""):
            return "no"


def approve_servers_once(spec) -> str:
    """`--yes`: start every configured server for this run, without remembering it."""
    return "yes"
