"""The ACP agent: the protocol's methods, answered with claw sessions (`AcpSession`).

`initialize` says what claw does: load sessions (from the DuckDB log), list them, take text,
file links and embedded files in prompts, connect to MCP servers over stdio, HTTP and SSE (the
servers a client passes to `session/new` / `session/load` start with the session, next to the
workspace's approved ones: `mcp_servers.py`). It asks for no authentication: the model is
configured the usual way (settings file, CLAW_* variables, `claw-nb acp --model ...`). Every
session gets the agent `%%claw` gets, for the `cwd` the client names as its workspace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import field
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, run_agent
from acp.exceptions import RequestError
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionCapabilities,
    SessionListCapabilities,
    SetSessionModeResponse,
)

from claw_nb import __version__
from claw_nb.acp.mcp_servers import client_server_specs
from claw_nb.acp.session import AcpSession, ClientSide, mode_state
from claw_nb.acp.session_list import list_logged_sessions
from claw_nb.acp.tool_views import ClientPaths
from claw_nb.config import ClawConfig, load_config
from claw_nb.errors import ConfigError, SessionNotFound
from claw_nb.permissions import check_mode
from claw_nb.records import record

logger = logging.getLogger(__name__)


@record(frozen=True)
class ServerSettings:
    """What `claw-nb acp` was started with: settings for every session's config (`load_config`
    options such as model, api_base, db_path) and the permission mode new sessions start in
    (None: the workspace settings' mode, else ask)."""

    options: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None


class ClawAcpAgent:
    """The ACP `Agent` the SDK's connection calls; one per `claw-nb acp` process."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.sessions: dict[str, AcpSession] = {}
        self._conn: Any = None
        self._client: ClientSide | None = None

    def on_connect(self, conn: Any) -> None:
        self._conn = conn

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: Any = None,
        client_info: Any = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        fs = getattr(client_capabilities, "fs", None)
        name = (client_info.title or client_info.name) if client_info is not None else None
        self._client = ClientSide(
            self._conn, bool(fs and fs.read_text_file), name or "the ACP client"
        )
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(
                    image=False, audio=False, embedded_context=True
                ),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
                mcp_capabilities=McpCapabilities(http=True, sse=True),
            ),
            agent_info=Implementation(name="claw-nb", title="claw_nb", version=__version__),
            auth_methods=[],
        )

    async def new_session(
        self, cwd: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> NewSessionResponse:
        config = self._config(cwd)
        session_id = uuid.uuid4().hex[:16]
        session = await self._open(session_id, config, cwd, mcp_servers, load=False)
        return NewSessionResponse(session_id=session_id, modes=mode_state(session.mode))

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> LoadSessionResponse:
        session = self.sessions.get(session_id)
        if session is None:  # (an open session keeps the servers it started with)
            session = await self._open(session_id, self._config(cwd), cwd, mcp_servers, load=True)
        await session.replay()
        return LoadSessionResponse(modes=mode_state(session.mode))

    async def list_sessions(
        self, cwd: str | None = None, cursor: str | None = None, **kwargs: Any
    ) -> ListSessionsResponse:
        config = self._config(cwd or os.getcwd())
        paths = ClientPaths(config.workspace, Path(cwd) if cwd else config.workspace)
        return await asyncio.to_thread(
            list_logged_sessions,
            config.resolved_db_path,
            paths,
            only_here=cwd is not None,
            cursor=cursor,
        )

    async def set_session_mode(
        self, mode_id: str, session_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        self._session(session_id).set_mode(mode_id)
        return SetSessionModeResponse()

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        return await self._session(session_id).prompt(prompt)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.cancel()

    async def close(self) -> None:
        """Stop every session's run and flush its log (the client went away)."""
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    # -- helpers --------------------------------------------------------------------------------

    def _config(self, cwd: str) -> ClawConfig:
        if not os.path.isabs(cwd):
            raise RequestError.invalid_params({"cwd": f"must be an absolute path, got {cwd!r}"})
        try:
            return load_config(cwd, **self.settings.options)
        except ConfigError as exc:
            raise RequestError.invalid_params({"cwd": cwd, "message": str(exc)}) from exc

    async def _open(
        self,
        session_id: str,
        config: ClawConfig,
        cwd: str,
        mcp_servers: list[Any] | None,
        *,
        load: bool,
    ):
        if self._client is None:
            raise RequestError.invalid_request({"message": "call initialize first"})
        specs, left_out = client_server_specs(mcp_servers, self._client.name)
        for line in left_out:
            logger.warning("claw-nb acp: %s", line)
        try:
            mode = check_mode(self._default_mode(config))
            session = await AcpSession.open(
                session_id, config, self._client, Path(cwd), mode, load=load, mcp_servers=specs
            )
        except SessionNotFound as exc:
            raise RequestError.resource_not_found(session_id) from exc
        except ConfigError as exc:
            raise RequestError.invalid_params({"message": str(exc)}) from exc
        self.sessions[session_id] = session
        return session

    def _default_mode(self, config: ClawConfig) -> str:
        section = config.settings.get("permissions", {}) if config.settings else {}
        return self.settings.mode or section.get("mode") or "ask"

    def _session(self, session_id: str) -> AcpSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise RequestError.invalid_params(
                {"sessionId": f"no session {session_id!r}; create or load it first"}
            )
        return session


async def serve(settings: ServerSettings, reader: Any, writer: Any) -> None:
    """Answer ACP on `reader`/`writer` (asyncio streams) until the client closes them."""
    agent = ClawAcpAgent(settings)
    try:
        await run_agent(agent, writer, reader)
    finally:
        await agent.close()
