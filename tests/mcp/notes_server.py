"""A small real MCP server for the tests, built with the `mcp` package's server side (MCPServer,
formerly FastMCP): a read-only tool, a tool that changes state, one that fails, one that reports
where and with what environment it runs, a resource and a prompt.

    python notes_server.py        stdio
    python notes_server.py http   streamable HTTP on 127.0.0.1, a free port (printed first)
    python notes_server.py sse    the same over SSE

It writes a line to stderr on every call: the tests check that this never reaches the user.
"""

from __future__ import annotations

import os
import socket
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("notes")
NOTES = {"greeting": "hello from the notes server"}
if os.environ.get("NOTES_PIDS"):  # the tests learn which processes ran, and check they stopped
    with open(os.environ["NOTES_PIDS"], "a") as pids:
        pids.write(f"{os.getpid()}\n")


def noise(what: str) -> None:
    print(f"notes-server stderr: {what}", file=sys.stderr, flush=True)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(key: str) -> str:
    """Look up a note by its key."""
    noise(f"lookup {key}")
    if key not in NOTES:
        raise ToolError(f"no note {key!r}; keys: {', '.join(sorted(NOTES))}")
    return NOTES[key]


@server.tool()
def add_note(key: str, text: str) -> str:
    """Store a note under a key."""
    noise(f"add_note {key}")
    NOTES[key] = text
    return f"stored {key} ({len(NOTES)} notes)"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def environment(name: str) -> str:
    """The server's working directory and one environment variable."""
    return f"pid={os.getpid()} cwd={os.getcwd()} {name}={os.environ.get(name, '(unset)')}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def long_text(chars: int) -> str:
    """A text of the given length."""
    return "n" * chars


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def header(name: str, ctx: Context) -> str:
    """One header of the HTTP request that carried this call (over HTTP only)."""
    return f"{name}: {(ctx.headers or {}).get(name.lower(), '(none)')}"


@server.tool()
async def wait_forever() -> str:
    """Never answers (for timeouts): waits for an event nobody sets."""
    import anyio

    await anyio.Event().wait()
    return "unreachable"


@server.resource("notes://readme")
def readme() -> str:
    """How the notes server works."""
    return "The notes server keeps notes by key."


@server.prompt()
def summarize(topic: str) -> str:
    """Ask for a summary of a topic."""
    return f"Summarize what the notes say about {topic}."


def serve_http(kind: str) -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(sock.getsockname()[1], flush=True)
    app = server.streamable_http_app() if kind == "http" else server.sse_app()
    uvicorn.Server(uvicorn.Config(app, log_level="error")).run(sockets=[sock])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        serve_http(sys.argv[1])
    else:
        server.run()
