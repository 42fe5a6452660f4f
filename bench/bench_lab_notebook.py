"""How long a `%claw lab run` cell keeps the kernel, run by hand: `python bench/bench_lab_notebook.py`.

A real IPython shell with the extension loaded runs the same small experiment twice against
the scripted model server (every model reply delayed, so a trial takes about a second):

1. `--wait`: the cell blocks until the last trial is judged (how every `%claw lab run` cell
   behaved before the lab ran in the background);
2. the background (the widget view, as in JupyterLab): the cell returns with the live view and
   a handle; the time until it returns, then the time until the run is done.

Prints seconds; no target (the point is the difference).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds per model reply")
    parser.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args()

    from IPython.core.interactiveshell import InteractiveShell

    from claw_nb.jupyter.magics import ClawMagics
    from claw_nb.testing import ScriptedServer, call, delay, text, tool_calls

    def reply(request: dict) -> object:
        if request["messages"][-1]["role"] == "tool":
            return delay(args.delay, text("done"))
        return delay(args.delay, tool_calls(call("write_file", {"path": "a.txt", "content": "1"})))

    specs = [
        {
            "name": f"t{i}",
            "instruction": f"write 1 into a.txt ({i})",
            "files": {},
            "test": 'cat a.txt > "$REWARD_DIR/reward.txt"\n',
        }
        for i in range(args.tasks)
    ]
    flag = " --unsandboxed" if args.unsandboxed else ""
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(default=reply) as server:
        tasks = Path(tmp) / "tasks.json"
        tasks.write_text(json.dumps(specs))
        os.environ.update(
            XDG_CACHE_HOME=str(Path(tmp) / "cache"),  # a journal index of its own
            CLAW_MODEL="openai/scripted",
            CLAW_API_BASE=server.url,
            CLAW_API_KEY="sk",
            CLAW_DB=str(Path(tmp) / "lab.duckdb"),
        )
        os.chdir(tmp)
        ClawMagics._use_widgets = lambda self, ui: ui != "text"  # the widget view, as in Lab
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "claw_nb")
        shell.run_line_magic("claw", f"lab run {tasks} --experiment warm --only t0 --wait{flag}")

        started = time.perf_counter()
        shell.run_line_magic("claw", f"lab run {tasks} --experiment waited --wait{flag}")
        waited = time.perf_counter() - started

        started = time.perf_counter()
        run = shell.run_line_magic("claw", f"lab run {tasks} --experiment background{flag}")
        returned = time.perf_counter() - started
        other_started = time.perf_counter()
        shell.run_cell("x = sum(range(1000))")
        other = time.perf_counter() - other_started
        still_running = not run.done
        run.wait()
        finished = time.perf_counter() - started
        shell.run_line_magic("unload_ext", "claw_nb")
        os.chdir(home)
    print(f"{args.tasks} trials, model replies delayed {args.delay} s, local pool of 1")
    print(f"  --wait: the cell blocks                 {waited:6.2f} s")
    print(f"  background: the cell returns after      {returned:6.2f} s")
    print(f"  another cell meanwhile took             {other * 1000:6.1f} ms")
    print(f"  the run was still going then            {still_running}")
    print(f"  background: the run ends after          {finished:6.2f} s")


if __name__ == "__main__":
    main()
