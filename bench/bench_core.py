"""Core figures, run by hand: `python bench/bench_core.py [--steps 200]`.

- `import claw_nb` time (fresh interpreters, median of 7, minus bare interpreter start-up)
- the agent's own overhead per step: wall time of a run minus time inside the model call
  (LiteLLM + server) minus time inside tools, against the scripted server
- the model call's time per step, on each model path (`--backend litellm|direct|both`)
- with and without the DuckDB log (journal append per event)
Targets (issue 2): import under 150 ms; overhead under 5 ms per step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def import_time(runs: int = 7) -> tuple[float, float]:
    def timed(code: str) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    bare = timed("pass")
    return timed("import claw_nb") - bare, bare


class TimedModel:
    """Wraps the real model (either path) and adds up the time spent inside it."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0

    def complete(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner.complete(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def agent_overhead(steps: int, stream: bool, with_log: bool, backend: str) -> dict[str, float]:
    from claw_nb import events as ev
    from claw_nb.agent import Agent
    from claw_nb.config import load_config
    from claw_nb.model import make_model
    from claw_nb.sandbox import PlainRunner
    from claw_nb.testing import ScriptedServer, call, text, tool_calls

    tool_ms = []

    def on_event(event):
        if isinstance(event, ev.ToolCallFinished):
            tool_ms.append(event.duration_ms)

    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        workspace = Path(tmp)
        todos = [{"content": "step", "status": "in_progress"}]
        config = load_config(
            workspace,
            model="openai/scripted",
            api_base=server.url,
            api_key="k",
            stream=stream,
            max_steps=steps + 1,
            model_backend=backend,
        )
        model = TimedModel(make_model(config))
        listeners = [on_event]
        log = None
        if with_log:
            from claw_nb.log.store import EventLog

            log = EventLog(workspace / "claw.duckdb")
            listeners.append(log)
        wiring = {"runner": PlainRunner(), "authorize": None}
        agent = Agent(config, model=model, listeners=listeners, **wiring)
        # Warm up lazy imports (LiteLLM, httpx) outside the timing.
        server.queue(text("warm"))
        Agent(config, model=model, **wiring).run("warm up")
        model.seconds = 0.0
        server.queue(
            *[tool_calls(call("todo_write", {"todos": todos}))] * (steps - 1), text("done")
        )
        start = time.perf_counter()
        result = agent.run("benchmark")
        wall = time.perf_counter() - start
        if log is not None:
            log.close()
        assert result.ok, result
    n = result.steps
    context_ms = agent.context_manager.prepare_seconds * 1000
    overhead = (wall - model.seconds) * 1000 - sum(tool_ms)
    return {
        "steps": n,
        "overhead_ms_per_step": overhead / n,
        "context_ms_per_step": context_ms / n,
        "model_call_ms_per_step": model.seconds * 1000 / n,
        "tool_ms_per_step": sum(tool_ms) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backend", choices=["litellm", "direct", "both"], default="both")
    args = parser.parse_args()
    backends = ["litellm", "direct"] if args.backend == "both" else [args.backend]
    claw, bare = import_time()
    print(
        f"import claw_nb: {claw:.1f} ms (interpreter start-up {bare:.1f} ms excluded); target < 150 ms"
    )
    try:
        import claw_nb.log.store  # noqa: F401

        has_store = True
    except ImportError:
        has_store = False
    for backend in backends:
        for stream in (False, True):
            for with_log in (False, True) if has_store else (False,):
                r = agent_overhead(args.steps, stream, with_log, backend)
                label = (
                    f"{backend:7} {'stream' if stream else 'plain '} "
                    f"log={'on ' if with_log else 'off'}"
                )
                print(
                    f"{label}: agent overhead {r['overhead_ms_per_step']:.2f} ms/step, of which "
                    f"context management {r['context_ms_per_step']:.2f} "
                    f"(model call {r['model_call_ms_per_step']:.2f} ms/step, "
                    f"tool {r['tool_ms_per_step']:.2f} ms/step) over {r['steps']} steps; "
                    "target < 5 ms"
                )


if __name__ == "__main__":
    main()
