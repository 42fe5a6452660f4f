"""One ACP session: the agent `%%claw` runs (`api.build_agent`), driven by a client.

The agent is built the standard way (sandbox, permission policy, DuckDB log), with this
session's listener (`UpdateStream`) and approver (`ClientApprover`), and with `read_file` going
through the client when it can read files. Each `session/prompt` runs `Agent.run` in a worker
thread while the loop keeps serving the connection; `session/cancel` interrupts it (the
agent's stop token, which also ends a pending permission question). The session's permission
mode is the client's to set, and passes to each run.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from acp.exceptions import RequestError
from acp.helpers import update_current_mode
from acp.schema import PromptResponse, SessionMode, SessionModeState

from claw_nb.acp.approver import ClientApprover
from claw_nb.acp.client_files import client_read_file
from claw_nb.acp.outbox import Outbox
from claw_nb.acp.prompt_text import prompt_text
from claw_nb.acp.replay import replay_updates
from claw_nb.acp.tool_views import ClientPaths
from claw_nb.acp.updates import UpdateStream
from claw_nb.config import ClawConfig
from claw_nb.permissions import MODES
from claw_nb.records import record
from claw_nb.tools import ToolRegistry, default_tools

CLIENT_READ_TIMEOUT = 30.0  # seconds the client may take to hand over a file's text
CLOSE_TIMEOUT = 30.0  # seconds a closing session waits for its run to stop

MODE_NAMES = {
    "ask": ("Ask", "Reads run; every edit and command asks first"),
    "accept-edits": ("Accept edits", "Reads and edits in the workspace run; commands ask"),
    "auto": ("Auto", "Everything runs; commands inside the sandbox"),
    "read-only": ("Read only", "Reads run; edits and commands are refused"),
    "plan": ("Plan", "Investigate and propose a plan; nothing changes until it is approved"),
}
# claw's stop reasons as ACP's; the others (model failures) end the turn with the error as text
STOP_REASONS = {
    "completed": "end_turn",
    "output_truncated": "max_tokens",
    "max_steps": "max_turn_requests",
    "interrupted": "cancelled",
}


def mode_state(current: str) -> SessionModeState:
    """The permission modes as ACP session modes, `current` selected."""
    return SessionModeState(
        current_mode_id=current,
        available_modes=[
            SessionMode(id=mode, name=MODE_NAMES[mode][0], description=MODE_NAMES[mode][1])
            for mode in MODES
        ],
    )


@record(frozen=True)
class ClientSide:
    """What every session needs of the client: the connection, and what it can do."""

    conn: Any  # the SDK's AgentSideConnection
    reads_files: bool  # it offered `fs.readTextFile`
    name: str  # for the log's "approved by ..."


class AcpSession:
    """A claw agent behind one ACP session id. Create it with `open` (on the loop)."""

    def __init__(self, session_id: str, client: ClientSide, paths: ClientPaths, mode: str) -> None:
        self.session_id = session_id
        self.client = client
        self.paths = paths
        self.mode = mode
        self.agent: Any = None  # set by `_build`, before the session is used
        self.log: Any = None  # the session's DuckDB log (`EventLog`), set by `_build`
        self.outbox = Outbox(self._send)
        self.stream = UpdateStream(self.outbox, paths, self._tool_kind, self._window)
        self.approver = ClientApprover(
            self.outbox,
            client.conn.request_permission,
            session_id,
            current_call=lambda: self.stream.current,
            stop=lambda: self.agent.stop if self.agent is not None else None,
            on_plan_approved=self._plan_approved,
            paths=paths,
            label=f"{client.name} (ACP)",
        )
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._cancelled = False

    @classmethod
    async def open(
        cls,
        session_id: str,
        config: ClawConfig,
        client: ClientSide,
        client_root: Path,
        mode: str,
        *,
        load: bool = False,
        mcp_servers: tuple[Any, ...] = (),
    ) -> AcpSession:
        """A new session, or (`load=True`) the logged session `session_id` continued.
        `mcp_servers`: the client's (`ServerSpec`s), started with the workspace's approved ones
        and stopped when the agent closes; this waits (bounded) until they answer."""
        session = cls(session_id, client, ClientPaths(config.workspace, client_root), mode)
        try:
            await asyncio.to_thread(session._build, config, load, mcp_servers)
        except BaseException:
            await session.outbox.close()
            raise
        return session

    def _build(self, config: ClawConfig, load: bool, mcp_servers: tuple[Any, ...]) -> None:
        from claw_nb import api
        from claw_nb.log.store import EventLog

        # No ingest into DuckDB at the end of each turn: it would hold the answer back by a few
        # hundred milliseconds. Every reader of the log ingests the journals first, and the
        # session ingests when it closes.
        self.log = EventLog(config.resolved_db_path, ingest_at_end=False)
        tools = default_tools()
        if self.client.reads_files:
            reader = client_read_file(self._read_from_client)
            tools = ToolRegistry([reader if t.name == reader.name else t for t in tools])
        options: dict[str, Any] = {
            "mode": self.mode,
            "approver": self.approver,
            "approver_name": self.approver.label,
            "listeners": [self.stream],
            "tools": tools,
            "log": self.log,
            "client_mcp_servers": mcp_servers,
        }
        if load:
            self.agent, _log = api.continue_session(config, self.session_id, **options)
        else:
            self.agent, _log = api.build_agent(config, session_id=self.session_id, **options)

    # -- the protocol's requests ----------------------------------------------------------------

    async def prompt(self, blocks: list[Any]) -> PromptResponse:
        """Run the agent on the prompt; answer when the run ends (or was cancelled)."""
        task = prompt_text(blocks, self.paths)
        if not task.strip():
            return PromptResponse(stop_reason="end_turn")
        with self._lock:
            if not self._idle.is_set():
                raise RequestError.invalid_request(
                    {"message": "a prompt is still running in this session; cancel it first"}
                )
            self._idle.clear()
            self._cancelled = False
            self.agent.stop.clear()  # a cancel that came after the last run ended is stale
        self.stream.start_turn()
        try:
            result = await asyncio.to_thread(self._run, task)
        finally:
            await self.outbox.drain()  # every update of the turn before its answer
        reason = (
            "cancelled" if self._cancelled else STOP_REASONS.get(result.stop_reason, "end_turn")
        )
        return PromptResponse(stop_reason=reason, usage=self.stream.turn.usage())

    def _run(self, task: str) -> Any:
        try:
            return self.agent.run(task, mode=self.mode)
        finally:
            with self._lock:
                self._idle.set()

    def cancel(self) -> None:
        """Stop the running turn at its next safe point (nothing to do when none runs)."""
        with self._lock:
            if not self._idle.is_set():
                self._cancelled = True
                self.agent.interrupt()

    def set_mode(self, mode: str) -> None:
        """The permission mode for the next prompts (a running turn keeps its own)."""
        if mode not in MODES:
            raise RequestError.invalid_params(
                {"modeId": f"unknown mode {mode!r}; choose one of {', '.join(MODES)}"}
            )
        self.mode = mode

    async def replay(self) -> None:
        """Send the conversation so far to the client (`session/load`)."""
        outcomes = self.agent.context_manager.outcomes

        def call_ok(call_id: str) -> bool | None:
            outcome = outcomes.get(call_id)
            return None if outcome is None else outcome.ok

        for update in replay_updates(self.agent.messages, self.paths, self._tool_kind, call_ok):
            self.outbox.put(update)
        await self.outbox.drain()

    async def close(self) -> None:
        """Stop a running turn, wait for it, and flush the log."""
        self.cancel()
        await asyncio.to_thread(self._idle.wait, CLOSE_TIMEOUT)
        if self.agent is not None:
            await asyncio.to_thread(self.agent.close)  # closes the log's journal
            await asyncio.to_thread(self.log.try_ingest)
        await self.outbox.close()

    # -- the agent's side -----------------------------------------------------------------------

    async def _send(self, update: Any) -> None:
        await self.client.conn.session_update(session_id=self.session_id, update=update)

    def _plan_approved(self, mode: str) -> None:
        self.mode = mode  # the approved plan goes on in this mode, and so do later prompts
        self.outbox.put(update_current_mode(mode))

    def _read_from_client(self, resolved: Path) -> str | None:
        path = self.paths.for_client(str(resolved))

        async def read() -> Any:
            return await self.client.conn.read_text_file(session_id=self.session_id, path=path)

        response = self.outbox.call(read, stop=self.agent.stop, timeout=CLIENT_READ_TIMEOUT)
        return response.content

    def _tool_kind(self, name: str) -> str | None:
        tool = self.agent.tools.get(name) if self.agent is not None else None
        return tool.kind if tool is not None else None

    def _window(self) -> int:
        return self.agent.context_manager.window if self.agent is not None else 0
