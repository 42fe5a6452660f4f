"""`claw-nb acp` as an editor sees it: start-up, session/new, and prompt to first text.

Starts `python -m claw_nb acp` with the SDK's client against the scripted model server on
127.0.0.1 (streamed replies), opens one session and sends `--prompts` prompts one after
another. Prints the time to the `initialize` answer, to `session/new`, and per prompt the time
from sending it to the first `agent_message_chunk` and to the answer (median, p90, max).

    python bench/bench_acp.py --prompts 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Client:
    def __init__(self) -> None:
        self.first_text: asyncio.Event = asyncio.Event()
        self.first_text_at = 0.0

    async def session_update(self, session_id, update, **kwargs) -> None:
        if update.session_update == "agent_message_chunk" and not self.first_text.is_set():
            self.first_text_at = time.perf_counter()
            self.first_text.set()

    async def request_permission(self, options, session_id, tool_call, **kwargs):
        raise RuntimeError("the bench asks for nothing")

    def on_connect(self, conn) -> None:
        pass


def _figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name}: median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, max {ms[-1]:.0f} ms"


async def bench(prompts: int) -> None:
    from acp import PROTOCOL_VERSION, spawn_agent_process
    from acp.schema import ClientCapabilities, Implementation, TextContentBlock

    from claw_nb.testing import ScriptedServer, text

    reply = "The answer, streamed in pieces so the first one can be timed."
    workspace = Path(tempfile.mkdtemp(prefix="claw-acp-bench-"))
    with ScriptedServer(default=text(reply)) as server:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CLAW_MODEL": "openai/scripted",
            "CLAW_API_BASE": server.url,
            "CLAW_API_KEY": "sk-bench",
            "CLAW_DB": str(workspace.parent / f"{workspace.name}.duckdb"),
        }
        client = Client()
        started = time.perf_counter()
        async with spawn_agent_process(
            client,
            sys.executable,
            "-m",
            "claw_nb",
            "acp",
            env=env,
            cwd=str(workspace),
            transport_kwargs={"stderr": None},
        ) as (conn, _):
            await conn.initialize(
                protocol_version=PROTOCOL_VERSION,
                client_capabilities=ClientCapabilities(),
                client_info=Implementation(name="bench", version="0"),
            )
            initialized = time.perf_counter()
            session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            opened = time.perf_counter()
            to_text, to_answer = [], []
            for i in range(prompts):
                client.first_text.clear()
                sent = time.perf_counter()
                await conn.prompt(
                    session_id=session.session_id,
                    prompt=[TextContentBlock(type="text", text=f"question {i}")],
                )
                to_answer.append(time.perf_counter() - sent)
                to_text.append(client.first_text_at - sent)
    print(f"spawn -> initialize answered: {(initialized - started) * 1000:.0f} ms")
    print(f"session/new: {(opened - initialized) * 1000:.0f} ms")
    print(_figures("first prompt -> first text", to_text[:1]))
    print(_figures(f"prompt -> first text ({prompts} prompts)", to_text))
    print(_figures(f"prompt -> answer ({prompts} prompts)", to_answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(bench(args.prompts))


if __name__ == "__main__":
    main()
