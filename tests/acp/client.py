"""The client side for the ACP tests: the SDK's own client connection driving `claw-nb acp`.

`RecordingClient` keeps every session update, answers permission questions from a script
(option ids, or a coroutine), and reads files like an editor with unsaved buffers. `claw_acp`
starts `python -m claw_nb acp` as a subprocess (the code under test, from this checkout) and
initializes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

acp = pytest.importorskip("acp")

from acp import PROTOCOL_VERSION, spawn_agent_process  # noqa: E402
from acp.schema import (  # noqa: E402
    AgentMessageChunk,
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileSystemCapabilities,
    Implementation,
    ReadTextFileResponse,
    RequestPermissionResponse,
    TextContentBlock,
)

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 120.0  # seconds: a hang fails the test instead of stalling the suite

Answer = str | Callable[[Any], Awaitable[RequestPermissionResponse]]


def selected(option_id: str) -> RequestPermissionResponse:
    return RequestPermissionResponse(
        outcome=AllowedOutcome(option_id=option_id, outcome="selected")
    )


def cancelled() -> RequestPermissionResponse:
    return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))


class RecordingClient:
    """An ACP client that records what the agent sends and answers from a script."""

    def __init__(self, answers: list[Answer] | None = None, editor: dict[str, str] | None = None):
        self.answers = list(answers or [])
        self.editor = dict(editor or {})  # absolute path -> unsaved text in the "editor"
        self.updates: list[Any] = []
        self.permissions: list[tuple[Any, list[Any]]] = []
        self.reads: list[str] = []
        self.first_text = asyncio.Event()
        self.first_text_at: float | None = None
        self.asked = asyncio.Event()
        self.initialized: Any = None  # the agent's `initialize` answer

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)
        if isinstance(update, AgentMessageChunk) and not self.first_text.is_set():
            self.first_text_at = time.perf_counter()
            self.first_text.set()

    async def request_permission(
        self, options: list[Any], session_id: str, tool_call: Any, **kwargs: Any
    ) -> RequestPermissionResponse:
        self.permissions.append((tool_call, options))
        self.asked.set()
        answer = self.answers.pop(0) if self.answers else "reject_once"
        if callable(answer):
            return await answer(tool_call)
        return selected(answer)

    async def read_text_file(
        self, path: str, session_id: str, limit: int | None = None, line: int | None = None, **kw
    ) -> ReadTextFileResponse:
        self.reads.append(path)
        text = self.editor[path] if path in self.editor else Path(path).read_text("utf-8")
        return ReadTextFileResponse(content=text)

    def on_connect(self, conn: Any) -> None:
        pass

    # -- reading what was sent ------------------------------------------------------------------

    def of(self, name: str) -> list[Any]:
        """Updates whose `sessionUpdate` is `name` ("tool_call", "agent_message_chunk", ...)."""
        return [u for u in self.updates if getattr(u, "session_update", None) == name]

    def text(self, name: str = "agent_message_chunk") -> str:
        return "".join(u.content.text for u in self.of(name) if hasattr(u.content, "text"))

    def call(self, tool_call_id: str) -> tuple[Any, list[Any]]:
        """(its `tool_call`, its `tool_call_update`s) for one call id."""
        start = [u for u in self.of("tool_call") if u.tool_call_id == tool_call_id]
        updates = [u for u in self.of("tool_call_update") if u.tool_call_id == tool_call_id]
        assert len(start) == 1, (tool_call_id, self.updates)
        return start[0], updates


def prompt(text: str) -> list[Any]:
    return [TextContentBlock(type="text", text=text)]


@contextlib.asynccontextmanager
async def claw_acp(
    client: RecordingClient,
    claw_env: Any,
    *args: str,
    reads_files: bool = True,
    error_answers: bool = False,
) -> AsyncIterator[tuple[Any, Any]]:
    """`claw-nb acp` running in the workspace, initialized; yields (connection, process).

    Its stderr must show no traceback, unless the test expects error answers
    (`error_answers`): SDK 0.11 logs a traceback for each error it answers with."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    stderr_path = claw_env.workspace.parent / "acp-stderr.txt"
    with open(stderr_path, "a", encoding="utf-8") as stderr:
        async with spawn_agent_process(
            client,
            sys.executable,
            "-m",
            "claw_nb",
            "acp",
            *args,
            env=env,
            cwd=str(claw_env.workspace),
            transport_kwargs={"stderr": stderr},
        ) as (conn, process):
            client.initialized = await conn.initialize(
                protocol_version=PROTOCOL_VERSION,
                client_capabilities=ClientCapabilities(
                    fs=FileSystemCapabilities(read_text_file=reads_files, write_text_file=False),
                    terminal=False,
                ),
                client_info=Implementation(name="tests", title="the test client", version="0"),
            )
            yield conn, process
    errors = stderr_path.read_text(encoding="utf-8")
    assert error_answers or "Traceback" not in errors, errors


def run(scenario: Awaitable[Any]) -> Any:
    """Run a test's scenario on a fresh event loop, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(scenario, GENEROUS))
