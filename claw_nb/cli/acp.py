"""`claw-nb acp`: claw_nb as an Agent Client Protocol agent on stdin/stdout (docs/acp.md).

An editor or a chat starts this process and speaks JSON-RPC to it, one message a line. Stdout
carries the protocol and nothing else: everything else that writes there (a print, a library,
a child process) is sent to stderr for the life of the process, at the file-descriptor level.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from claw_nb.permissions import MODES

# asyncio is imported where it runs: every `claw-nb` command builds this parser, and asyncio
# costs ~30-45 ms of a `run`'s start.
STDIO_LIMIT = 50 * 1024 * 1024  # one JSON-RPC line may carry a whole file (the SDK's default)


HELP = "serve the Agent Client Protocol on stdio (for Zed, marimo, Jupyter AI)"


def add_parser(sub: Any) -> None:
    """The `acp` subcommand's options: the model and log settings every session gets."""
    acp = sub.add_parser(
        "acp",
        help=HELP,
        description="Run claw as an ACP agent: an editor or chat starts this command and talks "
        "to it on stdin/stdout. Each session's workspace is the directory the client names.",
    )
    acp.add_argument("--model", help="LiteLLM model string, or local/NAME (env CLAW_MODEL)")
    acp.add_argument("--api-base", help="model server URL (env CLAW_API_BASE)")
    acp.add_argument("--api-key", help="API key (env CLAW_API_KEY)")
    acp.add_argument("--db", type=Path, help="DuckDB log file (env CLAW_DB)")
    acp.add_argument("--max-steps", type=int, help="most model calls per prompt (default 50)")
    acp.add_argument(
        "--context-window", type=int, metavar="TOKENS", help="the model's window in tokens"
    )
    acp.add_argument(
        "--mode",
        choices=list(MODES),
        help="permission mode new sessions start in (default: ask, or the settings file's); "
        "the client can change it per session",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until the client closes stdin."""
    try:
        from claw_nb.acp.server import ServerSettings
    except ImportError as exc:  # the SDK is an extra
        if not (exc.name or "").startswith("acp"):
            raise
        print(
            f"claw-nb acp needs the agent-client-protocol package ({exc.name} is missing): "
            "pip install -e '.[acp]' in a claw_nb checkout",
            file=sys.stderr,
        )
        return 2
    import asyncio
    import logging

    from claw_nb.cli.headless import json_stdout

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    options = {
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key,
        "db_path": args.db,
        "max_steps": args.max_steps,
        "context_window": args.context_window,
    }
    settings = ServerSettings(
        options={k: v for k, v in options.items() if v is not None}, mode=args.mode
    )
    try:
        with json_stdout() as out:
            asyncio.run(_serve_stdio(settings, out))
    except KeyboardInterrupt:  # a client stopping us with SIGINT (Jupyter AI's shutdown does)
        return 130
    return 0


async def _serve_stdio(settings: Any, out: TextIO) -> None:
    """Serve on stdio. SIGTERM (what clients send when the agent does not exit soon after they
    close stdin) ends the connection as a closed stdin does, so every session still closes: its
    log is flushed and its MCP servers are stopped instead of outliving this process."""
    import asyncio

    from claw_nb.acp.server import serve

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STDIO_LIMIT)
    stdin, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    loop.add_signal_handler(signal.SIGTERM, stdin.close)  # the reader sees the end of input
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    await serve(settings, reader, writer)
