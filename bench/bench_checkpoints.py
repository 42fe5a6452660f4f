"""What checkpoints cost, run by hand: `python bench/bench_checkpoints.py [--files 1000]`.

A workspace of `--files` text files (default 1,000 in 50 folders, ~4 KB each, plus an ignored
`.venv/` of 500 files that scans skip). Tool calls go through the real tools and the real
recorder (`claw_nb.checkpoints.Checkpoints`) as the agent drives them: ToolCallStarted, the
tool, ToolCallFinished. Only the recorder's own time is counted, not the tool's. Figures:

- the first command of a process: scan and hash every file (the baseline), with no saved index
  and with the index an earlier process saved;
- a later command (`sed -i` on one file): two stat scans, one file read again;
- a file-tool edit: the file read before and after;
- disk use of the store after the baseline and after the steps, beside the workspace's size;
- the rewind of all those steps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from claw_nb import events as ev
from claw_nb.checkpoints import Checkpoints, CheckpointStore, rewind_files
from claw_nb.sandbox import PlainRunner
from claw_nb.tools import ToolContext, default_tools

SESSION = "bench"


def make_workspace(root: Path, files: int) -> int:
    """`files` Python-ish text files in 50 folders and an ignored .venv; their total bytes."""
    total = 0
    for n in range(files):
        folder = root / f"pkg{n % 50:02d}"
        folder.mkdir(exist_ok=True)
        body = "".join(f"def f{n}_{i}(x):\n    return x * {i} + {n}\n\n" for i in range(120))
        (folder / f"mod{n}.py").write_text(body)
        total += len(body)
    venv = root / ".venv" / "lib"
    venv.mkdir(parents=True)
    for n in range(500):
        (venv / f"dep{n}.py").write_text("x = 1\n" * 200)
    return total


class Driver:
    """Runs tool calls the way the agent does and times the recorder around each."""

    def __init__(self, workspace: Path, store: CheckpointStore) -> None:
        self.tools = default_tools()
        self.checkpoints = Checkpoints(store, workspace)
        self.checkpoints.recorder.tools = self.tools
        self.context = ToolContext(workspace=workspace, runner=PlainRunner())
        self.step = 0

    def call(self, tool: str, **arguments) -> float:
        """Seconds the recorder spent on this call."""
        self.step += 1
        call_id = f"c{self.step}"
        started = ev.ToolCallStarted(SESSION, self.step, call_id, tool, arguments, "")
        t0 = time.perf_counter()
        self.checkpoints(started)
        spent = time.perf_counter() - t0
        result = self.tools.get(tool).run(self.context, arguments)
        finished = ev.ToolCallFinished(
            SESSION, self.step, call_id, tool, arguments, "", ok=True, result=result
        )
        t0 = time.perf_counter()
        self.checkpoints(finished)
        return spent + time.perf_counter() - t0


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20, help="commands and edits to time")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-ckpt-"))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        size = make_workspace(ws, args.files)
        store = CheckpointStore(tmp / "checkpoints")
        driver = Driver(ws, store)
        print(f"workspace: {args.files:,} files, {size / 1e6:.1f} MB (+500 files in .venv/)")

        first = driver.call("run_command", command="true")
        after_baseline = du(store.root)
        commands, edits = [], []
        for n in range(args.steps):
            target = f"pkg{n % 50:02d}/mod{n}.py"
            commands.append(driver.call("run_command", command=f"sed -i s/return/yield/ {target}"))
            edits.append(
                driver.call(
                    "edit_file", path=target, old_string=f"def f{n}_0(", new_string=f"def g{n}_0("
                )
            )
        after_steps = du(store.root)

        fresh = Driver(ws, store)  # a new process: the index an earlier one saved
        second_process = fresh.call("run_command", command="true")

        t0 = time.perf_counter()
        report = rewind_files(store, SESSION)
        rewind_s = time.perf_counter() - t0
        restored = len(report.paths)

        ms = 1000
        print(f"first command, no index (hash every file): {first * ms:8.1f} ms")
        print(f"first command, index of an earlier process: {second_process * ms:7.1f} ms")
        print(
            f"later command (sed -i on one file):   median {statistics.median(commands) * ms:6.1f}"
            f" ms, max {max(commands) * ms:6.1f} ms  ({args.steps} steps)"
        )
        print(
            f"file-tool edit (edit_file):           median {statistics.median(edits) * ms:6.1f}"
            f" ms, max {max(edits) * ms:6.1f} ms"
        )
        print(
            f"disk: store {after_baseline / 1e6:.2f} MB after the baseline "
            f"({after_baseline / size:.0%} of the workspace, zlib), "
            f"{after_steps / 1e6:.2f} MB after {2 * args.steps} more steps "
            f"(+{(after_steps - after_baseline) / 1e3 / (2 * args.steps):.1f} kB per step)"
        )
        print(
            f"rewind of {restored} files changed by {2 * args.steps} steps: {rewind_s * ms:.1f} ms"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    main()
