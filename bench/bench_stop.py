"""Time from Stop to stopped while the model is still silent (reading a long prompt).

One real Jupyter kernel (jupyter_client) runs `%%claw --ui widget` cells against the scripted
server, which holds every reply (`hold`) until the run has stopped: without a stop that closes
the request, the run would wait for the reply (30 s here, the `SILENT` a slow local model might
take). For each path, from the moment of the stop:

* Stop button: a cell clicks the run's Stop button (what the comm message from the browser
  does), timed in the kernel;
* kernel interrupt: `KernelManager.interrupt_kernel()` (SIGINT, what JupyterLab's stop button
  and Kernel > Interrupt send), timed here.

it prints the time until the server saw the request closed and until the run had ended (its
header's end time). Both processes read the same monotonic clock.

    python bench/bench_stop.py [runs per path]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time

from claw_nb.testing import ScriptedServer, hold, text

SILENT = 30.0  # how long the held reply would take to come without a stop


def held(server: ScriptedServer) -> threading.Event:
    """Queue a reply that sets the returned event when it arrives, then holds (a released
    gate after SILENT seconds: the reply a run without a working stop would wait for)."""
    arrived, gate = threading.Event(), threading.Event()
    threading.Timer(SILENT, gate.set).start()

    def reply(request):
        arrived.set()
        return hold(gate, text("the reply, 30 s late"))

    server.queue(reply)
    return arrived


def run_cell(kc, code: str) -> str:
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=120, output_hook=hook)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content']}")
    return "".join(out)


ENDED = """
m = get_ipython().magics_manager.registry["ClawMagics"]
m._queue.wait_idle(60)
print(m.last_view.run._ended, m.last_result.stop_reason)
"""


def one_stop(server: ScriptedServer, kc, km, path: str) -> tuple[float, float]:
    server.client_left.clear()
    arrived = held(server)
    run_cell(kc, "%%claw --ui widget --mode auto\na long prompt")
    if not arrived.wait(120):
        raise RuntimeError("the request never reached the server")
    if path == "button":
        stopped_at = float(
            run_cell(
                kc,
                "import time\nt = time.monotonic()\n"
                "get_ipython().magics_manager.registry['ClawMagics'].last_view"
                ".stop_button.click()\nprint(t)",
            )
        )
    else:
        stopped_at = time.monotonic()
        km.interrupt_kernel()
    if not server.client_left.wait(SILENT):
        raise RuntimeError("the request was not closed")
    closed = server.client_left_at  # perf_counter: the same clock as monotonic on Linux
    ended, reason = run_cell(kc, ENDED).split()
    if reason != "interrupted":
        raise RuntimeError(f"the run ended as {reason}")
    return closed - stopped_at, float(ended) - stopped_at


def main() -> None:
    import jupyter_client

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        env = {
            **os.environ,
            "CLAW_MODEL": "openai/scripted",
            "CLAW_API_BASE": server.url,
            "CLAW_API_KEY": "sk-bench",
            "CLAW_DB": os.path.join(tmp, "claw.duckdb"),
            "HOME": tmp,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        km = jupyter_client.KernelManager(kernel_name="python3")
        km.start_kernel(env=env, cwd=tmp)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            run_cell(kc, "%load_ext claw_nb")
            one_stop(server, kc, km, "button")  # warm-up: imports, the first connection
            print(f"Stop -> stopped while the model is silent (would answer after {SILENT:g} s)")
            print(f"{'path':<18} {'request closed (ms)':>22} {'run ended (ms)':>18}   runs")
            for path in ("button", "kernel interrupt"):
                results = [one_stop(server, kc, km, path) for _ in range(runs)]
                closed = [1000 * c for c, _ in results]
                ended = [1000 * e for _, e in results]
                print(f"{path:<18} {_spread(closed):>22} {_spread(ended):>18}   {runs}")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} (max {max(values):.0f})"


if __name__ == "__main__":
    main()
