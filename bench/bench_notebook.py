"""Fresh-kernel time to the first model request and to the first visible text of `%%claw`.

Starts a new Jupyter kernel per run (jupyter_client), points it at the scripted model server,
runs `%load_ext claw_nb`, waits `gap` seconds (a person typing the task: 0 or 3 s), then runs a
`%%claw` cell and measures, from the moment that cell is sent, when the server saw the request
and when the kernel printed the answer. With and without the background import of LiteLLM that
`%load_ext` starts (ClawMagics.preload).

    python bench/bench_notebook.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from claw_nb.testing import ScriptedServer, text


def one_run(server: ScriptedServer, preload: bool, gap: float, ui: str) -> tuple[float, float]:
    import jupyter_client

    seen: list[float] = []

    def reply(request):
        seen.append(time.monotonic())
        return text("hello from the model")

    server.queue(reply)
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        setup = f"get_ipython().config.ClawMagics.preload = {preload}\n%load_ext claw_nb"
        kc.execute_interactive(setup, timeout=60)
        time.sleep(gap)
        first_text: list[float] = []

        def hook(msg):  # a stream line (text mode) or a widget update (comm message)
            if "hello from the model" in str(msg["content"]) and not first_text:
                first_text.append(time.monotonic())

        sent = time.monotonic()
        kc.execute_interactive(
            f"%%claw --ui {ui} --mode auto\nsay hello", timeout=180, output_hook=hook
        )
        end = time.monotonic() + 120
        while not first_text and time.monotonic() < end:  # a widget run goes on after the cell
            try:
                hook(kc.get_iopub_msg(timeout=1))
            except Exception:  # noqa: BLE001 - queue.Empty: nothing yet
                pass
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return seen[0] - sent, first_text[0] - sent


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    server = ScriptedServer().start()
    os.environ.update(
        CLAW_MODEL="openai/scripted",
        CLAW_API_BASE=server.url,
        CLAW_API_KEY="sk-test",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    os.environ.pop("JPY_SESSION_NAME", None)
    scratch = tempfile.TemporaryDirectory(prefix="claw-bench-")  # the log: not in your tree
    os.environ.setdefault("CLAW_DB", os.path.join(scratch.name, "claw-bench.duckdb"))
    try:
        print(
            f"{'ui':<7} {'preload':<8} {'gap s':>6} {'to request s':>13} {'to text s':>10}"
            f"  (median of {runs})"
        )
        for ui in ("text", "widget"):
            for gap in (0.0, 3.0):
                for preload in (False, True):
                    results = [one_run(server, preload, gap, ui) for _ in range(runs)]
                    request = statistics.median(r[0] for r in results)
                    shown = statistics.median(r[1] for r in results)
                    print(
                        f"{ui:<7} {str(preload):<8} {gap:>6.1f} {request:>13.2f} {shown:>10.2f}",
                        flush=True,
                    )
    finally:
        server.stop()
        scratch.cleanup()


if __name__ == "__main__":
    main()
