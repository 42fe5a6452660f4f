"""Jupyter AI end to end: a chat message to the claw persona runs `claw-nb acp`.

One JupyterLab server with Jupyter AI 3.2 serves the module: on 127.0.0.1, from the Python that
has Jupyter AI (a virtualenv of its own, tests/e2e/jupyter_ai_env.py), with a temporary HOME
and Jupyter directories. The persona's `claw-nb acp` runs on that Python too. Each test has a
folder of its own for its chat, whose `.claw/settings.toml` points claw at the test's scripted
model server (a session's workspace is its chat's folder, docs/acp.md).

- Server side: the chat WebSocket JupyterLab's chat panel uses when collaboration is off
  (`/api/chat/ws/PATH`), and the REST call its permission button makes (`/ai/acp/permissions`).
- In Chromium: claw picked in the chat input's persona picker, a message typed and sent with
  Enter, the edit's diff shown with its permission buttons, Allow once clicked, the file
  changed on disk; the time from Enter to claw's first text on the page is printed.
  Screenshots: tests/out/e2e_jupyter_ai_permission.png, tests/out/e2e_jupyter_ai_chat.png.

Skipped, saying how to make one, without a Python that has Jupyter AI; the browser test also
without Chromium or Playwright.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.websocket import websocket_connect

from claw_nb.testing import call, text, tool_calls
from tests.e2e.jupyter_ai_env import jupyter_ai_python
from tests.e2e.lab import ROOT, Lab, shot

PERSONA = "jupyter-ai-personas::claw_nb::ClawAcpPersona"
GENEROUS = 180.0  # seconds: the agent process imports the ACP SDK (several seconds when busy)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ai_lab(tmp_path_factory):
    """JupyterLab with Jupyter AI, for every test of the module."""
    python = jupyter_ai_python()
    base = tmp_path_factory.mktemp("jupyter-ai")
    (base / "lab").mkdir()
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAW_", "XDG_"))}
    env.update(
        HOME=str(base / "home"),
        CLAW_API_KEY="sk-test",  # the model and its URL come from each chat folder's settings
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    # Jupyter AI's own MCP server listens on port 3001 unless told otherwise: a free port on
    # 127.0.0.1, so that two test runs on one machine do not collide.
    args = ("--MCPExtensionApp.mcp_port=0", "--MCPServer.host=127.0.0.1")
    lab = Lab(base / "lab", env, python=python, args=args, ready_timeout=GENEROUS)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def chat_folder(ai_lab, scripted_server) -> Iterator[Path]:
    """A folder of this test's own in the lab, with an empty chat, claw pointed at the server."""
    folder = Path(tempfile.mkdtemp(prefix="chat-", dir=ai_lab.root))
    (folder / ".claw").mkdir()
    (folder / ".claw" / "settings.toml").write_text(
        f'model = "openai/scripted"\napi_base = "{scripted_server.url}"\n'
    )
    (folder / "claw.chat").write_text("")
    yield folder
    _wait_for_chat_shutdown(ai_lab, folder)


def _wait_for_chat_shutdown(lab: Lab, folder: Path, timeout: float = 30) -> None:
    """Until Jupyter AI has shut down the chat in `folder`, if it opened. Its ACP client shares
    one agent process among chats and stops it when the last chat closes, but forgets it only
    after it exited: a chat opened in between gets the closing connection, and its first
    message fails with "Connection closed" (jupyter-ai-acp-client 0.3.3). The server tells only
    its log, so the log is read a few times a second."""
    chat = f"{folder.name}/claw.chat"
    closed = re.compile(rf"Chat closed: {re.escape(chat)} \(id=(\w+)\)")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        log = lab.log_text()
        if f"New chat detected: {chat}" not in log:
            return
        found = closed.search(log)
        if found and f"Shut down persona manager for chat '{found.group(1)}'" in log:
            return
        time.sleep(0.1)  # no event to wait on


def _post(lab: Lab, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{lab.url}{path}?token={lab.token}",
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


# In the page: when Enter is pressed in the chat input, and when the first non-empty message
# after the one sent (`body`) shows text. A MutationObserver sees the text as soon as the chat
# renders it; polling from the test would add its own interval to the figure.
_TIME_FIRST_TEXT = """(body) => {
  const widget = document.querySelector('.jp-chat-widget');
  const t = (window.__clawFirstText = {sent: null, first: null});
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) t.sent = performance.now();
  }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (t.sent === null) return;
    const texts = [...widget.querySelectorAll('.jp-chat-rendered-message')]
      .map((e) => e.textContent.trim());
    const mine = texts.lastIndexOf(body);
    if (mine >= 0 && texts.slice(mine + 1).some((x) => x)) {
      t.first = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(widget, {childList: true, subtree: true, characterData: true});
}"""


def _send(page, body: str) -> float:
    """Type `body` in the chat input and press Enter, as a person does; the milliseconds from
    Enter to claw's first text on the page."""
    page.evaluate(_TIME_FIRST_TEXT, body)
    box = page.locator(".jp-chat-input-container textarea").first
    box.fill(body)
    box.press("Enter")
    page.wait_for_function("() => window.__clawFirstText.first !== null", timeout=GENEROUS * 1000)
    timing = page.evaluate("() => window.__clawFirstText")
    return timing["first"] - timing["sent"]


@pytest.mark.parametrize("page", [900], indirect=True)
def test_in_the_browser_claw_picked_in_the_chat_edits_a_file_once_allowed(
    ai_lab, chat_folder, scripted_server, page, capsys
):
    from playwright.sync_api import expect

    (chat_folder / "notes.txt").write_text("hello\n")
    scripted_server.queue(
        text("Hi from claw."),
        tool_calls(
            call("write_file", {"path": "notes.txt", "content": "bye\n"}),
            content="I will write notes.txt.",
        ),
        text("Wrote notes.txt."),
    )
    log_start = len(ai_lab.log_text())
    page.goto(ai_lab.open(f"{chat_folder.name}/claw.chat"))

    # Jupyter AI 3.2 sends a message to the persona picked in the chat input (an @mention
    # alone routes nothing): open the picker, choose claw.
    picker = page.get_by_title("Choose which persona to message")
    picker.click()
    page.get_by_role("menuitem", name="claw").click()
    expect(picker).to_have_text("claw")

    first_ms = _send(page, "say hi")
    messages = page.locator(".jp-chat-rendered-message")
    expect(messages.filter(has_text="Hi from claw.")).to_be_visible()
    assert "say hi" in json.dumps(scripted_server.requests[0]["messages"][-1])

    next_ms = _send(page, "write notes.txt")
    call_card = page.locator(".jp-jupyter-ai-acp-client-tool-call")
    allow = call_card.get_by_role("button", name="Allow once")
    expect(allow).to_be_visible(timeout=GENEROUS * 1000)
    expect(call_card).to_contain_text("Write notes.txt")
    diff = call_card.locator(".jp-jupyter-ai-acp-client-diff-content")
    expect(diff).to_contain_text("- hello")
    expect(diff).to_contain_text("+ bye")
    assert (chat_folder / "notes.txt").read_text() == "hello\n"  # nothing before the click
    shot(page, "e2e_jupyter_ai_permission.png")

    allow.click()
    expect(messages.filter(has_text="Wrote notes.txt.")).to_be_visible(timeout=GENEROUS * 1000)
    assert (chat_folder / "notes.txt").read_text() == "bye\n"
    expect(page.locator(".jp-jupyter-ai-acp-client-tool-call-completed")).to_have_count(1)
    expect(allow).to_be_hidden()
    shot(page, "e2e_jupyter_ai_chat.png")
    assert "Traceback" not in ai_lab.log_text(log_start), ai_lab.log_text(log_start)[-6000:]
    with capsys.disabled():
        print(
            f"\nJupyter AI chat, Enter to claw's first text: first message {first_ms:.0f} ms, "
            f"next message {next_ms:.0f} ms"
        )


def test_a_chat_message_to_claw_streams_the_answer_and_an_edit_waits_for_the_button(
    ai_lab, chat_folder, scripted_server
):
    (chat_folder / "a.txt").write_text("hello\n")
    scripted_server.queue(
        text("Hi from claw."),
        tool_calls(call("write_file", {"path": "a.txt", "content": "bye\n"}, id="c_w")),
        text("Wrote it."),
    )
    log_start = len(ai_lab.log_text())
    chat_path = f"{chat_folder.name}/claw.chat"

    async def scenario():
        ws = await websocket_connect(
            f"ws://127.0.0.1:{ai_lab.port}/api/chat/ws/{chat_path}?token={ai_lab.token}"
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
        assert not (chat_folder / "a.txt").read_text() == "bye\n"  # not before the click
        choice = {
            "session_id": call_state["session_id"],
            "tool_call_id": call_state["tool_call_id"],
            "option_id": "allow_once",
        }
        assert (await asyncio.to_thread(_post, ai_lab, "/ai/acp/permissions", choice)) == {
            "status": "ok"
        }
        await chat.until(lambda m: m.get("body") == "Wrote it.")
        ws.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), GENEROUS))
    except BaseException:
        print(ai_lab.log_text(log_start)[-6000:])
        raise
    assert (chat_folder / "a.txt").read_text() == "bye\n"
    assert "Traceback" not in ai_lab.log_text(log_start), ai_lab.log_text(log_start)[-6000:]
