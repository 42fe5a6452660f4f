"""Lab overhead and summary speed, run by hand: `python bench/bench_lab.py`.

1. Overhead per trial beyond the agent's own time, with the local pool: a scripted model that
   answers at once and a verifier that only writes its reward, so nearly all of a trial is the
   lab's own work (fresh workspace, sandbox, agent wiring, verifier in bubblewrap, journal
   ingest, trial row). Overhead = driver wall time per trial minus the session's own duration
   (SessionStarted to SessionEnded). Target: under 300 ms.
2. Summarising 1,000 finished trials: Experiment.results() + leaderboard() + per_task() on a
   log holding 1,000 trial rows (2 variants x 50 tasks x 10 repeats). Target: under 1 s.
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


def overhead(trials: int, unsandboxed: bool) -> None:
    import duckdb

    from claw_nb.lab.executors import local_executor
    from claw_nb.lab.runner import run_experiment
    from claw_nb.lab.tasks import load_tasks
    from claw_nb.lab.variants import Variant
    from claw_nb.testing import ScriptedServer, text

    task = {
        "name": "noop",
        "instruction": "say done",
        "files": {"a.txt": "x\n"},
        "test": 'echo 1 > "$REWARD_DIR/reward.txt"\n',
    }
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(default=text("done")) as server:
        db = Path(tmp) / "lab.duckdb"
        common = dict(
            db_path=db,
            model="openai/scripted",
            api_base=server.url,
            api_key="sk",
            unsandboxed=unsandboxed,
            options={"stream": False},
            executor=local_executor(1),
        )
        run_experiment(load_tasks([task]), [Variant("warm")], experiment="warmup", **common)
        started = time.perf_counter()
        run_experiment(
            load_tasks([task]), [Variant("v")], repeats=trials, experiment="bench", **common
        )
        wall = time.perf_counter() - started
        con = duckdb.connect(str(db), read_only=True)
        agent = [
            r[0]
            for r in con.execute(
                "SELECT epoch(s.ended_at - s.started_at) FROM trials t JOIN sessions s "
                "USING (session_id) WHERE t.experiment = 'bench'"
            ).fetchall()
        ]
        trial_wall = [
            r[0]
            for r in con.execute("SELECT wall_s FROM trials WHERE experiment = 'bench'").fetchall()
        ]
        con.close()
    per_trial = wall / trials
    agent_mean = statistics.mean(agent)
    print(f"{trials} trials, local pool of 1, {'unsandboxed' if unsandboxed else 'bubblewrap'}")
    print(f"  driver wall per trial      {per_trial * 1000:7.0f} ms")
    print(
        f"  agent's own time (session) {agent_mean * 1000:7.0f} ms (median "
        f"{statistics.median(agent) * 1000:.0f})"
    )
    print(f"  trial wall (worker)        {statistics.mean(trial_wall) * 1000:7.0f} ms")
    print(
        f"  lab overhead per trial     {(per_trial - agent_mean) * 1000:7.0f} ms (target < 300 ms)"
    )


def summary(variants: int = 2, tasks: int = 50, repeats: int = 10) -> None:
    import random

    from claw_nb.lab.experiment import Experiment
    from claw_nb.log.database import open_database
    from claw_nb.log.ingest import insert_rows

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lab.duckdb"
        con, _ = open_database(db, read_only=False, timeout=5)
        rows = []
        for v in range(variants):
            for t in range(tasks):
                for r in range(repeats):
                    reward = float(rng.random() < 0.3 + 0.2 * v)
                    rows.append(
                        (
                            f"id{v}-{t}-{r}",
                            "big",
                            f"v{v}",
                            f"task{t:02d}",
                            r,
                            reward,
                            reward == 1.0,
                            "completed",
                            5,
                            4000,
                            300,
                            12.5,
                            1,
                            None,
                            None,
                            "",
                            None,
                        )
                    )
        insert_rows(con, "trials", rows)
        insert_rows(con, "experiments", [("big", None, "{}")])
        con.close()
        exp = Experiment("big", db)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            results = exp.results()
            exp.leaderboard()
            exp.per_task()
            times.append(time.perf_counter() - started)
    print(
        f"{len(results)} finished trials: results + leaderboard + per_task in "
        f"{min(times) * 1000:.0f} ms (best of 3; first {times[0] * 1000:.0f} ms; target < 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args()
    overhead(args.trials, args.unsandboxed)
    summary()


if __name__ == "__main__":
    main()
