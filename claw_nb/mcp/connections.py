"""A session's MCP servers: started in parallel on a background event loop, called synchronously.

The agent loop is synchronous and the MCP client is asyncio: one daemon thread runs a loop that
owns every client session (each server's connection lives in one task, so its async contexts
open and close where they must). The agent's thread submits a call and waits with a timeout;
whatever goes wrong comes back as a `ToolError` the model can read. A server that does not
answer within `startup_timeout` is named with its error and left out; its stderr goes to a
private temporary file (its last lines explain a failure), never to the terminal or notebook.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from claw_nb.mcp.approvals import ServerApprovals
from claw_nb.mcp.specs import MissingVariable, ServerList, ServerSpec
from claw_nb.mcp.tools import claw_tool
from claw_nb.mcp.transport import connect, describe_error, list_tools, stderr_tail
from claw_nb.records import record
from claw_nb.tools.base import Tool, ToolError, ToolTimeout

# The client library logs a server's bad output and teardown noise; with no handler of the
# user's, Python would print them on stderr (in a notebook: red noise under the cell).
logging.getLogger("mcp").addHandler(logging.NullHandler())

T = TypeVar("T")
ServerApprover = Callable[[ServerSpec], str]  # "always" (remember), "yes" (this session), "no"
CLOSE_TIMEOUT = 5.0  # seconds every server gets to stop at the end of a session
_REQUEST_TIMEOUT = -32001  # JSON-RPC error codes of the client's own read timeout,
_CONNECTION_CLOSED = -32000  # and of a connection that ended (the server exited)


class State(StrEnum):
    INVALID = "invalid"
    NOT_APPROVED = "not approved"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@record
class ServerStatus:
    """One server's state; written by the loop thread, read by any."""

    spec: ServerSpec
    state: State
    error: str | None = None
    declined: bool = False  # asked, and the user said no
    listed: tuple[Any, ...] = ()  # the server's tools (mcp_types.Tool)
    client: Any = None
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _scope: Any = field(default=None, repr=False)
    _done: concurrent.futures.Future | None = field(default=None, repr=False)
    _errlog: Any = field(default=None, repr=False)


class McpServers:
    """The servers of one session (or one notebook kernel): start, list, call, close."""

    def __init__(
        self,
        servers: ServerList,
        workspace: Path | str,
        *,
        store: ServerApprovals | None = None,
        startup_timeout: float = 30.0,
        tool_timeout: float = 120.0,
        trust_read_only: bool = True,
    ) -> None:
        self.workspace = Path(workspace)
        self.servers = servers
        self.store = store or ServerApprovals()
        self.startup_timeout = startup_timeout
        self.tool_timeout = tool_timeout
        self.trust_read_only = trust_read_only
        self._status = {
            s.name: ServerStatus(s, State.INVALID if s.problem else State.NOT_APPROVED, s.problem)
            for s in servers.servers
        }
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._told: set[str] = set()
        self._tools: dict[str, list[Tool]] = {}

    # -- starting -----------------------------------------------------------------------------

    def start(self, ask: ServerApprover | None = None, names: list[str] | None = None) -> None:
        """Start every approved server not started yet, or the servers `names` (again, when
        they failed or stopped); `ask` decides the workspace's not approved yet (None: nobody to
        ask, they stay off); a client's server needs no approval. Returns at once."""
        again = (State.NOT_APPROVED, State.FAILED, State.STOPPED)
        for status in list(self._status.values()):
            if names is not None and status.spec.name not in names:
                continue
            if status.state not in (again if names is not None else (State.NOT_APPROVED,)):
                continue
            spec = status.spec
            if spec.origin == "workspace" and not self.store.is_approved(spec, self.workspace):
                answer = ask(spec) if ask is not None and not status.declined else "no"
                if answer == "always":
                    self.store.approve(spec, self.workspace)
                elif answer != "yes":
                    status.declined = ask is not None
                    continue
            self._launch(status)

    def _launch(self, status: ServerStatus) -> None:
        if self._closed:
            return
        status.state, status.error, status.listed = State.STARTING, None, ()
        self._tools.pop(status.spec.name, None)
        status._done = asyncio.run_coroutine_threadsafe(self._serve(status), self._ensure_loop())

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="claw-mcp", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    async def _serve(self, status: ServerStatus) -> None:
        """One server's whole connection: connect, list tools, wait for the stop, disconnect."""
        import anyio

        spec = status.spec
        status._stop = asyncio.Event()
        if spec.transport == "stdio":
            status._errlog = tempfile.TemporaryFile(mode="w+b")
        loop = asyncio.get_running_loop()
        try:
            launched = spec.launch()
            with anyio.CancelScope() as scope:
                status._scope = scope
                loop.call_later(self.startup_timeout, self._give_up, status)
                async with contextlib.AsyncExitStack() as stack:
                    client = await connect(stack, launched, self.workspace, status._errlog)
                    listed = await list_tools(client)
                    self._set(status, State.READY, client=client, listed=listed)
                    await status._stop.wait()
            if status.state is State.READY:
                self._set(status, State.STOPPED)
        except MissingVariable as exc:
            self._set(status, State.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure names the server and its reason
            if status.state in (State.STARTING, State.READY):
                self._set(
                    status, State.FAILED, error=describe_error(exc) + stderr_tail(status._errlog)
                )
        finally:
            status.client = None
            if status._errlog is not None:
                status._errlog.close()

    def _give_up(self, status: ServerStatus) -> None:
        """The startup timeout: a server still starting is failed now, and its start cut."""
        if status.state is State.STARTING:
            error = f"did not answer within {self.startup_timeout:g} s" + stderr_tail(
                status._errlog
            )
            self._set(status, State.FAILED, error=error)
            status._scope.cancel()

    def _set(self, status: ServerStatus, state: State, **values: Any) -> None:
        with self._changed:
            status.state = state
            for key, value in values.items():
                setattr(status, key, value)
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no server is starting (at most `timeout` seconds); True if none is."""
        with self._changed:
            return self._changed.wait_for(
                lambda: all(s.state is not State.STARTING for s in self._status.values()),
                timeout if timeout is not None else self.startup_timeout + 1,
            )

    # -- what there is ------------------------------------------------------------------------

    def statuses(self) -> list[ServerStatus]:
        return list(self._status.values())

    def status(self, name: str) -> ServerStatus:
        found = self._status.get(name)
        if found is None:
            known = ", ".join(self._status) or "(none configured)"
            raise ToolError(f"there is no MCP server named {name!r}; servers: {known}")
        return found

    def tools(self) -> list[Tool]:
        """The tools of every ready server, as claw_nb tools (built once per connection)."""
        out: list[Tool] = []
        for status in self._status.values():
            if status.state is not State.READY:
                continue
            name = status.spec.name
            if name not in self._tools:
                self._tools[name] = [
                    claw_tool(
                        name, listed, self._caller(name), trust_read_only=self.trust_read_only
                    )
                    for listed in status.listed
                ]
            out.extend(self._tools[name])
        return out

    def notices(self) -> list[str]:
        """One line per thing the user should know and has not been told by this object:
        malformed files and entries, servers waiting for approval, failures."""
        lines = list(self.servers.problems)
        waiting = [s.spec.name for s in self._status.values() if s.state is State.NOT_APPROVED]
        for status in self._status.values():
            spec = status.spec
            if status.state in (State.INVALID, State.FAILED):
                lines.append(
                    f"MCP server {spec.name} ({spec.source}) {status.state.value}: {status.error}"
                )
        if waiting:
            names = " ".join(waiting)
            lines.append(
                f"MCP servers not started until you approve them: {', '.join(waiting)}; "
                f"`claw-nb mcp list` shows their commands, `claw-nb mcp approve {names}` "
                f"(in a notebook `%claw mcp approve {names}`) approves them"
            )
        fresh = [line for line in lines if line not in self._told]
        self._told.update(fresh)
        return fresh

    # -- calls --------------------------------------------------------------------------------

    def _caller(self, server: str) -> Callable[[str, dict[str, Any]], Any]:
        def call(name: str, arguments: dict[str, Any]) -> Any:
            return self.call_tool(server, name, arguments)

        return call

    def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> Any:
        """The server's `CallToolResult`; ToolTimeout after `tool_timeout`, ToolError else."""
        timeout = self.tool_timeout
        return self.request(
            server,
            lambda client: client.call_tool(name, arguments, read_timeout_seconds=timeout),
            timeout,
            what=f"{server}/{name}",
        )

    def request(
        self,
        server: str,
        send: Callable[[Any], Awaitable[T]],
        timeout: float | None = None,
        *,
        what: str | None = None,
    ) -> T:
        """Run `send(client)` on the server's connection and wait for it (any MCP request:
        resources, prompts); errors become ToolError naming the server."""
        status = self.status(server)
        client, loop = status.client, self._loop
        if status.state is not State.READY or client is None or loop is None:
            why = f": {status.error}" if status.error else ""
            raise ToolError(f"MCP server {server} is {status.state.value}{why}")
        timeout = self.tool_timeout if timeout is None else timeout
        future = asyncio.run_coroutine_threadsafe(_awaited(send, client), loop)
        late = ToolTimeout(
            f"{what or server} did not answer within {timeout:g} s; try again, or ask for less"
        )
        try:
            return future.result(timeout + 5)  # the client's own read timeout comes first
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise late from None
        except BaseException as exc:
            future.cancel()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            code = getattr(exc, "code", None)
            if code == _REQUEST_TIMEOUT:
                raise late from None
            if code == _CONNECTION_CLOSED:  # the server died or hung up: say so from now on
                error = "stopped answering (the connection closed)" + stderr_tail(status._errlog)
                self._set(status, State.FAILED, error=error)
                loop.call_soon_threadsafe(status._stop.set)
                raise ToolError(f"{what or server} failed: MCP server {server} {error}") from None
            raise ToolError(f"{what or server} failed: {describe_error(exc)}") from None

    # -- stopping -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server (stdio: stdin closed, then terminated), then the loop thread."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is None:
            return
        running = [s for s in self._status.values() if s._done is not None]
        for status in running:
            if status._stop is not None:
                loop.call_soon_threadsafe(status._stop.set)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for status in running:
            try:
                status._done.result(max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                if status._scope is not None:
                    loop.call_soon_threadsafe(status._scope.cancel)
            except Exception:  # noqa: BLE001, S110 - _serve records its own failures
                pass
            if status._errlog is not None:
                with contextlib.suppress(OSError, ValueError):
                    status._errlog.close()
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(CLOSE_TIMEOUT)

    def __enter__(self) -> McpServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _awaited(send: Callable[[Any], Awaitable[T]], client: Any) -> T:
    return await send(client)
