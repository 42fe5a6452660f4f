"""What a fork saves against a full rerun, run by hand: `python bench/bench_fork.py`.

A scripted 10-step trial (nine reads of a growing notes file, then an answer that writes
nothing: it fails) is forked at step 6 under a variant that teaches writing the result file,
and the same variant also reruns the whole trial. Printed for both: model calls, prompt and
completion tokens, wall seconds, and the prompt tokens of the first request (the prefill a
server without a warm cache pays before the first new token). `--delay S` makes every model
reply take S seconds, to see how a slow model changes the picture. `--fan-out N` also runs the
base trial N times and forks all N failures, one after another and then N at a time on a
local pool (`fork_failures(..., executor=local_executor(N))`), printing both wall times.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

READS = 9  # steps 1..9 read, step 10 answers


def agent(request: dict):
    """Reads notes_N.txt for N = 1..9; writes out.txt once taught (after 5 reads), then
    answers; untaught, it answers after the ninth read without writing."""
    from claw_nb.testing import call, text, tool_calls
    from claw_nb.testing.lab_demo import HABIT_WRITE

    messages = request["messages"]
    names = [
        c["function"]["name"]
        for m in messages
        if m.get("role") == "assistant"
        for c in m.get("tool_calls") or []
    ]
    if "write_file" in names:
        return text("Done.")
    taught = HABIT_WRITE in (messages[0].get("content") or "")
    reads = names.count("read_file")
    if taught and reads >= 5:
        return tool_calls(call("write_file", {"path": "out.txt", "content": "amber\n"}))
    if reads < READS:
        return tool_calls(call("read_file", {"path": f"notes_{reads + 1}.txt"}))
    return text("Nothing to write.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per model reply")
    parser.add_argument("--unsandboxed", action="store_true")
    parser.add_argument("--fan-out", type=int, default=0, metavar="N", help="fork N failures")
    args = parser.parse_args()

    import duckdb

    from claw_nb.lab.fork.run import fork
    from claw_nb.lab.runner import run_experiment
    from claw_nb.lab.tasks import load_tasks
    from claw_nb.lab.variants import Variant
    from claw_nb.testing import ScriptedServer, delay
    from claw_nb.testing.lab_demo import HABIT_WRITE

    notes = {f"notes_{i}.txt": f"note {i}: " + "words " * (40 * i) + "\n" for i in range(1, 10)}
    task = {
        "name": "write-amber",
        "instruction": "Put the word amber in a file named out.txt.",
        "files": notes,
        "test": 'grep -qx amber out.txt && echo 1 > "$REWARD_DIR/reward.txt" || '
        'echo 0 > "$REWARD_DIR/reward.txt"\n',
        "agent_timeout_sec": 600,
    }
    taught = Variant("taught", system_prompt=f"You are an agent.\n{HABIT_WRITE}\n$tools\n")
    reply = (lambda r: delay(args.delay, agent(r))) if args.delay else agent
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        server.default = reply
        db = Path(tmp) / "lab.duckdb"
        common = dict(
            db_path=db,
            model="openai/scripted",
            api_base=server.url,
            api_key="sk-test",
            unsandboxed=args.unsandboxed,
            options={"stream": False},
        )
        tasks = load_tasks([task])
        run_experiment(tasks, [Variant("base")], experiment="base", **common)
        started = time.monotonic()
        run_experiment(tasks, [taught], experiment="rerun", **common)
        rerun_s = time.monotonic() - started
        con = duckdb.connect(str(db), read_only=True)
        (original,) = con.execute(
            "SELECT session_id FROM trials WHERE experiment='base'"
        ).fetchone()
        rerun = con.execute(
            """SELECT t.passed, count(l.step), sum(l.prompt_tokens), sum(l.completion_tokens),
                      arg_min(l.prompt_tokens, l.step)
               FROM trials t JOIN llm_calls l USING (session_id)
               WHERE t.experiment = 'rerun' GROUP BY t.passed"""
        ).fetchone()
        con.close()
        started = time.monotonic()
        (f,) = fork(original, 6, taught, db_path=db, api_key="sk-test")
        fork_s = time.monotonic() - started
        fanned = fan_out(args.fan_out, tasks, taught, common) if args.fan_out else []
    print(f"original trial: {f.original_steps} steps, reward {f.original_reward:g}")
    print("                 passed  model calls  prompt tok  completion tok  first request  wall s")
    print(
        f"full rerun       {bool(rerun[0])!s:6}  {rerun[1]:11}  {rerun[2]:10}  {rerun[3]:14}  "
        f"{rerun[4]:13}  {rerun_s:6.2f}"
    )
    print(
        f"fork at step 6   {f.passed!s:6}  {f.model_calls:11}  {f.prompt_tokens:10}  "
        f"{f.completion_tokens:14}  {f.first_prompt_tokens:13}  {fork_s:6.2f}"
        f"  (replay {f.replay_s * 1000:.0f} ms, {f.replayed} calls, {len(f.divergences)} diverged)"
    )
    for line in fanned:
        print(line)
    return 0


def fan_out(n: int, tasks: list, taught, common: dict) -> list[str]:
    """Fork n failed trials one after another, then n at a time: a line of wall time each."""
    from claw_nb.lab.executors import local_executor
    from claw_nb.lab.fork.failures import fork_failures
    from claw_nb.lab.runner import run_experiment
    from claw_nb.lab.variants import Variant

    run_experiment(tasks, [Variant("base")], experiment="many", repeats=n, **common)
    lines = []
    for slots in (1, n):
        pool = local_executor(slots)
        started = time.monotonic()
        try:
            report = fork_failures(
                "many",
                taught,
                db_path=common["db_path"],
                api_key="sk-test",
                forks_experiment=f"many-forks-{slots}",
                executor=pool,
            )
        finally:
            pool.shutdown()
        wall = time.monotonic() - started
        passed = sum(f.passed for f in report.forks)
        lines.append(f"{len(report.forks)} forks, {slots} at a time: {passed} passed, {wall:.2f} s")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
