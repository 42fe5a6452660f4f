"""What MCP servers cost, run by hand: `python bench/bench_mcp.py [--steps 50] [--servers 3]`.

The same scripted session (the direct model path, the DuckDB log on) in a workspace with no MCP
servers and in one whose `.mcp.json` names `--servers` copies of the tests' notes server
(tests/mcp/notes_server.py, stdio; approved in a temporary config folder):

- wiring: `build_agent` until the agent exists (with servers: started in parallel, waited for)
- per step, calling a built-in tool: the agent's time beyond the model call and the tool
- per step, calling an MCP tool: the same, plus the call's round trip to the server
- the request: characters of tool schemas sent with every model call
- closing: stopping the servers at the end of the session
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_core import TimedModel  # beside this script

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOTES_SERVER = ROOT / "tests" / "mcp" / "notes_server.py"


def session(servers: int, steps: int, tool: str) -> dict[str, float]:
    from claw_nb import events as ev
    from claw_nb.api import build_agent
    from claw_nb.config import load_config
    from claw_nb.mcp.approvals import ServerApprovals
    from claw_nb.mcp.specs import load_servers
    from claw_nb.model import make_model
    from claw_nb.testing import ScriptedServer, call, text, tool_calls

    tool_ms: list[float] = []

    def on_event(event):
        if isinstance(event, ev.ToolCallFinished):
            tool_ms.append(event.duration_ms)
            assert event.ok, event.error

    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as model_server:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        entries = {
            f"notes{i}": {"command": sys.executable, "args": [str(NOTES_SERVER)]}
            for i in range(servers)
        }
        (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": entries}))
        config = load_config(
            workspace,
            model="openai/scripted",
            api_base=model_server.url,
            api_key="k",
            stream=False,
            max_steps=steps + 1,
            model_backend="direct",
            db_path=Path(tmp) / "claw.duckdb",
        )
        for spec in load_servers(workspace, config.settings).servers:
            ServerApprovals().approve(spec, workspace)
        model = TimedModel(make_model(config))
        started = time.perf_counter()
        agent, _log = build_agent(config, model=model, mode="auto", listeners=[on_event])
        wiring = time.perf_counter() - started
        names = [t.name for t in agent.tools]
        assert sum(n.startswith("mcp__") for n in names) == 6 * servers, names
        schemas = len(json.dumps(agent.tools.specs()))

        def arguments(i: int) -> dict:  # a call repeated with the same result would be stopped
            return (
                {"key": f"k{i}", "text": "x"} if tool.startswith("mcp__") else {"pattern": f"*.{i}"}
            )

        model_server.queue(*[tool_calls(call(tool, arguments(i))) for i in range(steps - 1)])
        model_server.queue(text("done"))
        started = time.perf_counter()
        result = agent.run("benchmark")
        wall = time.perf_counter() - started
        assert result.ok, result
        started = time.perf_counter()
        agent.close()
        closing = time.perf_counter() - started
    n = result.steps
    return {
        "wiring_s": wiring,
        "overhead_ms": ((wall - model.seconds) * 1000 - sum(tool_ms)) / n,
        "tool_ms": statistics.median(tool_ms),
        "model_ms": model.seconds * 1000 / n,
        "schema_chars": schemas,
        "closing_s": closing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--servers", type=int, default=3)
    args = parser.parse_args()
    session(0, 3, "list_files")  # warm up imports outside the figures
    cases = [
        ("no MCP servers, list_files", 0, "list_files"),
        (f"{args.servers} MCP servers, list_files", args.servers, "list_files"),
        (
            f"{args.servers} MCP servers, mcp__notes0__add_note",
            args.servers,
            "mcp__notes0__add_note",
        ),
    ]
    for label, servers, tool in cases:
        r = session(servers, args.steps, tool)
        print(
            f"{label}: wiring {r['wiring_s']:.2f} s; per step: agent {r['overhead_ms']:.2f} ms, "
            f"tool {r['tool_ms']:.2f} ms (median), model call {r['model_ms']:.2f} ms; "
            f"tool schemas {r['schema_chars']:,} chars per request; closing {r['closing_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
