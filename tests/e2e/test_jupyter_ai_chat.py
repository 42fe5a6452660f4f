"""Jupyter AI end to end, server side: a chat message to the claw persona runs `claw-nb acp`.

Starts a real Jupyter server with Jupyter AI 3 on 127.0.0.1 (the scripted model server behind
claw), talks to a chat over the WebSocket protocol JupyterLab's chat panel uses when
collaboration is off (`/api/chat/ws/PATH`), and approves an edit through the same REST call the
panel's permission button makes (`/ai/acp/permissions`). What is not covered is the browser's
rendering of those frames (tests/e2e/test_jupyterlab.py drives a browser, where Chromium exists).

Skipped unless Jupyter AI and its ACP client are installed and claw_nb is installed with its
`jupyter_ai.personas` entry point (`pip install -e '.[jupyter-ai]'`).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest.importorskip("jupyter_ai_acp_client")
pytest.importorskip("jupyter_ai_persona_manager")
pytest.importorskip("jupyterlab_chat")

from tornado.websocket import websocket_connect  # noqa: E402

from claw_nb.testing import call, text, tool_calls  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PERSONA = "jupyter-ai-personas::claw_nb::ClawAcpPersona"
GENEROUS = 180.0  # seconds: the agent process imports the ACP SDK (several seconds when busy)

pytestmark = pytest.mark.slow

if not any(ep.name == "claw" for ep in entry_points(group="jupyter_ai.personas")):
    pytest.skip(
        "claw_nb is not installed with its jupyter_ai.personas entry point "
        "(pip install -e '.[jupyter-ai]')",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """`jupyter server` in `root`, its log drained by a thread that says when it is up."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port, self.token = _free_port(), uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: queue.Queue[str] = queue.Queue()
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
            ],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
            if f"127.0.0.1:{self.port}/" in line:
                self.ready.set()
        self.ready.set()  # exited: let the waiter see it

    def log(self) -> str:
        return "".join(self.lines.queue)

    def wait_listening(self, timeout: float) -> None:
        """Until the port takes connections. The server logs its URL before it binds (on its
        event loop's first turn) and says nothing when it has: after the URL line, the port is
        tried a few times a second."""
        assert self.ready.wait(timeout) and self.proc.poll() is None, self.log()
        while self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                return
            except ConnectionRefusedError:
                time.sleep(0.1)  # a bind has no event to wait on
        raise AssertionError(f"jupyter server exited:\n{self.log()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _post(server: JupyterServer, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}{path}?token={server.token}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Chat:
    """One chat file over JupyterLab's chat WebSocket."""

    def __init__(self, ws) -> None:
        self.ws = ws

    async def frame(self) -> dict:
        raw = await self.ws.read_message()
        assert raw is not None, "the chat WebSocket closed"
        return json.loads(raw)

    async def send_to_claw(self, body: str) -> None:
        message = {"type": "client", "action": "send", "id": str(uuid.uuid4()), "body": body}
        message["metadata"] = {"to_persona": PERSONA}  # what the chat input's persona picker sets
        await self.ws.write_message(json.dumps(message))

    async def until(self, wanted) -> dict:
        """The next message from claw for which `wanted(message)` is true."""
        while True:
            frame = await self.frame()
            message = frame.get("message") if frame.get("action") == "message" else None
            if message and message.get("sender") == PERSONA and wanted(message):
                return message


def test_a_chat_message_to_claw_streams_the_answer_and_an_edit_waits_for_the_button(
    scripted_server, workspace
):
    (workspace / "a.txt").write_text("hello\n")
    scripted_server.queue(
        text("Hi from claw."),
        tool_calls(call("write_file", {"path": "a.txt", "content": "bye\n"}, id="c_w")),
        text("Wrote it."),
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CLAW_MODEL": "openai/scripted",
        "CLAW_API_BASE": scripted_server.url,
        "CLAW_API_KEY": "sk-test",
        "CLAW_DB": str(workspace.parent / "claw.duckdb"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    server = JupyterServer(workspace, env)

    async def scenario():
        ws = await websocket_connect(
            f"ws://127.0.0.1:{server.port}/api/chat/ws/claw.chat?token={server.token}"
        )
        chat = Chat(ws)
        users = (await chat.frame())["users"]
        while PERSONA not in users:  # personas join once the chat has loaded
            frame = await chat.frame()
            users = {**users, **frame.get("users", {})}
        assert users[PERSONA]["display_name"] == "claw"

        await chat.send_to_claw("say hi")
        await chat.until(lambda m: m.get("body") == "Hi from claw.")

        await chat.send_to_claw("write a.txt")
        asked = await chat.until(
            lambda m: any(
                c.get("permission_status") == "pending"
                for c in (m.get("metadata") or {}).get("tool_calls", [])
            )
        )
        call_state = asked["metadata"]["tool_calls"][0]
        assert call_state["diffs"][0]["old_text"] == "hello\n"
        assert call_state["diffs"][0]["new_text"] == "bye\n"
        assert not (workspace / "a.txt").read_text() == "bye\n"  # not before the click
        choice = {
            "session_id": call_state["session_id"],
            "tool_call_id": call_state["tool_call_id"],
            "option_id": "allow_once",
        }
        assert (await asyncio.to_thread(_post, server, "/ai/acp/permissions", choice)) == {
            "status": "ok"
        }
        await chat.until(lambda m: m.get("body") == "Wrote it.")
        ws.close()

    try:
        server.wait_listening(GENEROUS)
        asyncio.run(asyncio.wait_for(scenario(), GENEROUS))
    except BaseException:
        print(server.log()[-6000:])
        raise
    finally:
        server.stop()
    assert (workspace / "a.txt").read_text() == "bye\n"
    assert "Traceback" not in server.log(), server.log()[-6000:]
