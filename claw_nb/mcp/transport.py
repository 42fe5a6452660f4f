"""Connecting to one MCP server (stdio, streamable HTTP or SSE) with the `mcp` client, and
saying in one line why it failed. `connect` imports the client library (~1.5 s) when it first
runs, on the background loop thread, so nothing else waits for it."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
from pathlib import Path
from typing import Any

from claw_nb.mcp.specs import ServerSpec
from claw_nb.textsafe import show

STDERR_TAIL = 600  # characters of a failed server's stderr shown with its error


class ClientUnavailable(RuntimeError):
    """The installed `mcp` package cannot be claw's client (missing, or 1.x)."""


def client_unavailable() -> str | None:
    """Why the installed `mcp` package cannot be claw's client, or None; read from its version,
    without importing it (an import that then fails costs seconds: ~10 s seen at load 9)."""
    try:
        version = importlib.metadata.version("mcp")
    except importlib.metadata.PackageNotFoundError:
        return "the mcp package is not installed (pip install 'mcp>=2')"
    if not re.fullmatch(r"\d+(\.\d+)*([a-z]+\d*)?(\.post\d+|\.dev\d+)?", version or ""):
        shown = show(version[:40])
        return f"the mcp package reports a malformed version ({shown}); reinstall it (mcp>=2)"
    if int(version.split(".", 1)[0]) >= 2:
        return None
    return (
        f"MCP servers need the mcp package 2.x; this environment has mcp {version} "
        "(jupyter-ai 3.2 pins mcp<2 through jupyter-server-mcp: run claw from an environment "
        "with mcp>=2 for MCP tools)"
    )


async def connect(
    stack: contextlib.AsyncExitStack, spec: ServerSpec, workspace: Path, errlog: Any
) -> Any:
    """An initialized `mcp.Client` for `spec` (expanded), entered on `stack`."""
    problem = client_unavailable()
    if problem is not None:
        raise ClientUnavailable(problem)
    from mcp import Client, StdioServerParameters

    if spec.transport == "stdio":
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=spec.command or "",
            args=list(spec.args),
            env=dict(spec.env) or None,
            cwd=str(workspace),
        )
        transport: Any = stdio_client(params, errlog=errlog)
    elif spec.transport == "http":
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=dict(spec.headers), timeout=httpx2.Timeout(30.0, read=300.0))
        )
        transport = streamable_http_client(spec.url or "", http_client=http)
    else:
        from mcp.client.sse import sse_client

        transport = sse_client(spec.url or "", headers=dict(spec.headers) or None, timeout=30.0)
    return await stack.enter_async_context(Client(transport))


async def list_tools(client: Any) -> tuple[Any, ...]:
    """Every tool the server lists, page by page (at most 100 pages)."""
    if getattr(client.server_capabilities, "tools", None) is None:
        return ()
    tools: list[Any] = []
    cursor = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools)


def describe_error(exc: BaseException) -> str:
    """The innermost real error of an exception (group), as one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ClientUnavailable):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"command not found: {exc.filename}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def stderr_tail(errlog: Any) -> str:
    """The last lines the server wrote on stderr, read without moving the shared offset."""
    if errlog is None:
        return ""
    try:
        fd = errlog.fileno()
        size = os.fstat(fd).st_size
        data = os.pread(fd, STDERR_TAIL, max(0, size - STDERR_TAIL))
    except (OSError, ValueError):
        return ""
    text = " | ".join(
        line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()
    )
    return f" (stderr: {text})" if text else ""
