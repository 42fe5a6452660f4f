"""`@claw` in Jupyter AI: the persona, and Jupyter AI's own ACP client driving `claw-nb acp`.

Runs where `jupyter-ai-acp-client` is installed (`pip install -e '.[jupyter-ai]'`; it pins
agent-client-protocol 0.11), and is skipped elsewhere. The browser itself is not driven here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("jupyter_ai_acp_client")

from acp.schema import TextContentBlock  # noqa: E402
from jupyter_ai_acp_client.base_acp_persona import BaseAcpPersona  # noqa: E402
from jupyter_ai_acp_client.default_acp_client import JaiAcpClient  # noqa: E402

from claw_nb.acp.persona import ClawAcpPersona, claw_command  # noqa: E402
from claw_nb.testing import call, text, tool_calls  # noqa: E402
from tests.acp.client import GENEROUS, ROOT  # noqa: E402


def test_the_entry_point_names_the_claw_persona():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["jupyter_ai.personas"]["claw"]
    assert target == f"{ClawAcpPersona.__module__}:{ClawAcpPersona.__name__}"
    assert issubclass(ClawAcpPersona, BaseAcpPersona)
    defaults = ClawAcpPersona.defaults.fget(None)
    assert defaults.name == "claw"  # mentioned as @claw
    assert Path(defaults.avatar_path).is_file()
    assert claw_command()[-1] == "acp"


class RecordingJaiClient(JaiAcpClient):
    """Jupyter AI's client, keeping the updates it gets (it drops those of sessions that belong
    to no chat persona, as these do)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updates = []
        self.reads = []

    async def read_text_file(self, path, session_id, **kwargs):
        self.reads.append(path)
        return await super().read_text_file(path=path, session_id=session_id, **kwargs)

    async def session_update(self, session_id, update, **kwargs):
        self.updates.append(update)
        await super().session_update(session_id, update, **kwargs)


def test_jupyter_ais_client_starts_claw_and_streams_a_turn(claw_env, monkeypatch):
    (claw_env.workspace / "notes.txt").write_text("from disk\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "notes.txt"}, id="c_read")), text("It says hi.")
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(claw_env.workspace)

    async def scenario():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        done.set_result(None)
        persona = SimpleNamespace(  # what the persona's spawn step reads of itself
            _before_subprocess_future=done,
            log=logging.getLogger("claw-persona-test"),
            _executable=claw_command(),
        )
        process = await BaseAcpPersona._init_agent_subprocess(persona)
        client = RecordingJaiClient(agent_subprocess=process, event_loop=loop)
        try:
            capabilities = await client.get_agent_capabilities()
            conn = await client.get_connection()
            session = await conn.new_session(cwd=str(claw_env.workspace), mcp_servers=[])
            response = await conn.prompt(
                session_id=session.session_id,
                prompt=[TextContentBlock(type="text", text="what do the notes say?")],
            )
        finally:
            process.stdin.close()
            await asyncio.wait_for(process.wait(), GENEROUS)
        return capabilities, response, client

    capabilities, response, client = asyncio.run(asyncio.wait_for(scenario(), GENEROUS))
    updates = client.updates
    assert capabilities.load_session is True
    assert response.stop_reason == "end_turn"
    finished = [u for u in updates if getattr(u, "session_update", "") == "tool_call_update"]
    assert "from disk" in finished[0].content[0].content.text
    assert client.reads == [str(claw_env.workspace / "notes.txt")]  # Jupyter AI's fs read
    chunks = [u.content.text for u in updates if u.session_update == "agent_message_chunk"]
    assert "".join(chunks) == "It says hi."
