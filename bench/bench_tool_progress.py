"""What tool-call progress costs, run by hand: `python bench/bench_tool_progress.py`.

A model streams a ~50 kB `write_file` call (the scripted server sends its arguments 6
characters a chunk, ~8,400 chunks) and the model path is timed with no `on_tool_progress`
callback and with one, interleaved, `--runs` times each; the figures are medians. Also the
tracker alone: its cost per streamed chunk, and how many reports a call makes.
`--backend litellm` times the LiteLLM path instead of the direct one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        },
    },
}
CONTENT = "all work and no play\n" * 2400


def model_path(backend: str, runs: int) -> None:
    from claw_nb.config import load_config
    from claw_nb.model import make_model
    from claw_nb.testing import ScriptedServer, call, tool_calls

    times: dict[str, list[float]] = {"without callback": [], "with callback": []}
    reports: list[int] = []
    with ScriptedServer() as server, tempfile.TemporaryDirectory() as ws:
        config = load_config(
            Path(ws),
            model="openai/scripted",
            api_base=server.url,
            api_key="k",
            stream=True,
            model_backend=backend,
        )
        model = make_model(config)
        messages = [{"role": "user", "content": "write it"}]
        server.queue(tool_calls(call("write_file", {"path": "w", "content": "x"})))
        model.complete(messages, [WRITE_FILE])  # warm up (LiteLLM's import, the connection)
        for _ in range(runs):
            for label in times:
                server.queue(tool_calls(call("write_file", {"path": "a", "content": CONTENT})))
                seen: list[tuple] = []
                callback = (lambda *a: seen.append(a)) if label == "with callback" else None
                start = time.perf_counter()
                model.complete(messages, [WRITE_FILE], on_tool_progress=callback)
                times[label].append(time.perf_counter() - start)
                if callback is not None:
                    reports.append(len(seen))
        model.close()
    print(f"{backend} path, a ~{len(CONTENT) // 1000} kB call streamed, medians of {runs}:")
    for label, values in times.items():
        print(f"  {label:<18} {statistics.median(values) * 1000:8.1f} ms a call")
    print(f"  progress reports   {statistics.median(reports):8.0f} a call")


def tracker_alone(chunks: int = 8400) -> None:
    from claw_nb.model.tool_progress import ToolProgressTracker
    from claw_nb.toolcalls import StreamingToolCallAccumulator

    def run(with_tracker: bool) -> tuple[float, int]:
        calls = StreamingToolCallAccumulator()
        seen: list[tuple] = []
        tracker = ToolProgressTracker(lambda *a: seen.append(a)) if with_tracker else None
        calls.add({"index": 0, "id": "c1", "function": {"name": "write_file", "arguments": ""}})
        start = time.perf_counter()
        for _ in range(chunks):
            calls.add({"index": 0, "function": {"arguments": "abcdef"}})
            if tracker is not None:
                tracker.native(calls)
        return time.perf_counter() - start, len(seen)

    plain = statistics.median(run(False)[0] for _ in range(5))
    tracked = [run(True) for _ in range(5)]
    extra = statistics.median(t for t, _ in tracked) - plain
    print(f"tracker alone, {chunks} chunks of one call, medians of 5:")
    print(f"  accumulator only   {plain / chunks * 1e6:8.2f} us a chunk")
    print(f"  tracker on top     {extra / chunks * 1e6:8.2f} us a chunk")
    print(f"  reports            {tracked[0][1]:8d} (no time passes: first sight + size buckets)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("direct", "litellm"), default="direct")
    args = parser.parse_args()
    tracker_alone()
    model_path(args.backend, args.runs)


if __name__ == "__main__":
    main()
