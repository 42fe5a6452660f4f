"""Context management on a long session, run by hand: `python bench/bench_context.py`.

A synthetic 200-step session against the scripted server, through the real agent and LiteLLM:
step 1 reads a small file holding a planted fact (a deploy key), then nearly every step reads a
different ~8 KB module; every 10th step runs a command printing ~6 KB; every 15th edits a module
read earlier. The session runs twice: unmanaged (context management off, window unlimited) and
managed (a 16k window). Measured on every request the server receives, counted with tiktoken:

- total prompt tokens sent (summary calls included), and the peak request size;
- whether the facts the task needs are still in the last request: the deploy key (from step 1),
  the task statement, and that an early module was edited.

Summary requests are answered by a scripted stand-in that keeps every line marked "FACT:" it is
shown, plus a ~300-word body so summaries cost what real ones would. So "facts retained" measures
the plumbing (the fact reaches the summariser and every later summary), not a model's judgment.

Targets (issue): peak request under the window at all times; total under 35% of unmanaged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "SECRET-7f3a9c2e"
TASK = (
    "Audit every module under src/ for handlers that swallow errors, fix the two worst ones, and "
    "at the end report the deploy key recorded in secret.txt."
)
WORDS = [
    "request",
    "context",
    "value",
    "handler",
    "retry",
    "timeout",
    "cache",
    "session",
    "token",
    "buffer",
    "parser",
    "record",
    "config",
    "client",
    "stream",
    "result",
    "error",
    "status",
    "payload",
    "window",
    "budget",
    "queue",
    "worker",
]


def make_workspace(root: Path, steps: int, file_kb: int) -> None:
    rng = random.Random(7)
    (root / "src").mkdir()
    (root / "tools").mkdir()
    filler = "\n".join(f"note {i}: nothing to see here" for i in range(15))
    (root / "secret.txt").write_text(
        f"{filler}\nFACT: the deploy key is {SECRET}\n{filler}\n", encoding="utf-8"
    )
    for i in range(steps + 1):
        lines = [f"# module mod_{i:03d} version 1"]
        while sum(len(line) + 1 for line in lines) < file_kb * 1024:
            a, b, c = rng.sample(WORDS, 3)
            n = rng.randrange(100)
            lines += [
                f"def {a}_{b}_{n}({c}, retries={n % 7}):",
                f"    {a} = {c}.lookup('{b}')  # {rng.choice(WORDS)} {rng.choice(WORDS)}",
                f"    return transform({a}, {b}={n})",
                "",
            ]
        (root / "src" / f"mod_{i:03d}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "tools" / "report.py").write_text(
        "import sys\n"
        "n = int(sys.argv[1])\n"
        "for k in range(150):\n"
        "    print(f'check {n}.{k:03d}: status=ok latency={(n * 31 + k * 17) % 997}ms')\n",
        encoding="utf-8",
    )


class Session:
    """The scripted model: decides each step's call, answers summary requests, measures."""

    def __init__(self, steps: int, server) -> None:
        from claw_nb.context import SUMMARY_SYSTEM
        from claw_nb.model.litellm_import import litellm

        self.lib = litellm()
        self.summary_system = SUMMARY_SYSTEM
        self.steps = steps
        self.server = server
        self.step = 0
        self.requests: list[tuple[str, int]] = []  # (kind, tokens)
        self.facts: dict[str, bool] = {}
        self.secret_seen = 0
        self.count_seconds = 0.0

    def count(self, body: dict) -> int:
        started = time.perf_counter()
        tokens = self.lib.token_counter(
            model="unknown", messages=body["messages"], tools=body.get("tools")
        )
        self.count_seconds += time.perf_counter() - started
        return tokens

    def __call__(self, body: dict):
        from claw_nb.testing import call, text, tool_calls

        self.server.clear_requests()  # the bodies get big; we measure here instead
        summary = "tools" not in body and body["messages"][0].get("content") == self.summary_system
        self.requests.append(("summary" if summary else "agent", self.count(body)))
        if summary:
            return text(self.summarise(body["messages"][1]["content"]))
        blob = json.dumps(body["messages"])
        self.secret_seen += SECRET in blob
        i = self.step
        self.step += 1
        if i == 0:
            return tool_calls(call("read_file", {"path": "secret.txt"}))
        if i < self.steps:
            if i % 10 == 0:
                return tool_calls(call("run_command", {"command": f"python tools/report.py {i}"}))
            if i % 15 == 7:
                path = f"src/mod_{i - 5:03d}.py"
                return tool_calls(
                    call(
                        "edit_file",
                        {
                            "path": path,
                            "old_string": f"# module mod_{i - 5:03d} version 1",
                            "new_string": f"# module mod_{i - 5:03d} version 2 (audited)",
                        },
                    )
                )
            return tool_calls(call("read_file", {"path": f"src/mod_{i:03d}.py"}))
        self.facts = {
            "deploy key": SECRET in blob,
            "task statement": TASK in blob,
            "early edit (src/mod_002.py)": bool(
                re.search(
                    r"mod_002\.py: edited|edited earlier: [^\n]*mod_002\.py|mod_002 version 2", blob
                )
            ),
        }
        return text(f"Done. The deploy key is {SECRET if self.facts['deploy key'] else 'lost'}.")

    @staticmethod
    def summarise(prompt: str) -> str:
        facts = sorted({line.strip() for line in prompt.splitlines() if "FACT:" in line})
        files = sorted(set(re.findall(r"^- (\S+): (edited|written)$", prompt, re.MULTILINE)))
        sentence = (
            "The agent is auditing the modules under src/ one by one, reading each file "
            "and noting handlers that swallow errors."
        )
        body = " ".join([sentence] * 12)
        return "\n".join(
            [
                "## Task",
                TASK,
                "## Decisions",
                body,
                "## Files touched",
                *[f"- {path}: {state}" for path, state in files],
                "## Open problems",
                "None recorded.",
                "## Todo list",
                "- [ ] finish the audit",
                "## Key facts",
                *facts,
            ]
        )


def run(steps: int, file_kb: int, window: int | None) -> dict:
    from claw_nb.agent import Agent
    from claw_nb.api import build_model, build_policy, build_runner
    from claw_nb.config import load_config
    from claw_nb.testing import ScriptedServer

    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        workspace = Path(tmp)
        make_workspace(workspace, steps, file_kb)
        session = Session(steps, server)
        server.default = session
        options = {"context_window": window} if window else {"context_management": False}
        config = load_config(
            workspace,
            model="openai/scripted",
            api_base=server.url,
            api_key="k",
            stream=False,
            max_steps=steps + 10,
            **options,
        )
        runner = build_runner(config)
        policy = build_policy(config, runner)
        agent = Agent(config, model=build_model(config), runner=runner, authorize=policy)
        started = time.perf_counter()
        result = agent.run(TASK, mode="auto")  # edits need no approval: nobody to ask here
        wall = time.perf_counter() - started
        manager = agent.context_manager
        agent_tokens = [t for kind, t in session.requests if kind == "agent"]
        return {
            "ok": result.ok,
            "steps": result.steps,
            "requests": len(agent_tokens),
            "summary_calls": sum(1 for kind, _ in session.requests if kind == "summary"),
            "total": sum(t for _, t in session.requests),
            "peak": max(t for _, t in session.requests),
            "facts": session.facts,
            "secret_share": session.secret_seen / max(1, len(agent_tokens)),
            "prunes": sum(1 for e in manager.compactions if e.method == "prune"),
            "summaries": sum(1 for e in manager.compactions if e.method == "summary"),
            "wall": wall - session.count_seconds,
            "prepare_ms": (manager.prepare_seconds - manager.summary_seconds)
            * 1000
            / max(1, result.steps),
            "history": agent.messages,
            "limit": manager.limit if window else None,
        }


def count_cost(history: list[dict]) -> tuple[float, float]:
    """ms to count a whole history with LiteLLM, and with the per-message cache after one step."""
    from claw_nb.context import TokenCounter
    from claw_nb.model.litellm_import import litellm

    started = time.perf_counter()
    litellm().token_counter(model="unknown", messages=history)
    whole = (time.perf_counter() - started) * 1000
    counter = TokenCounter("unknown")
    counter.request(history[:-1], None)
    started = time.perf_counter()
    counter.request(history, None)
    cached = (time.perf_counter() - started) * 1000
    return whole, cached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=16384)
    parser.add_argument("--file-kb", type=int, default=8)
    args = parser.parse_args()

    free = run(args.steps, args.file_kb, None)
    managed = run(args.steps, args.file_kb, args.window)
    whole_ms, cached_ms = count_cost(free["history"])

    def facts(r):
        return f"{sum(r['facts'].values())}/{len(r['facts'])}"

    share = managed["total"] / free["total"]
    rows = [
        ("agent steps (model requests)", free["requests"], managed["requests"]),
        ("summary calls", free["summary_calls"], managed["summary_calls"]),
        ("compactions: prune / summary", "-", f"{managed['prunes']} / {managed['summaries']}"),
        ("total prompt tokens", f"{free['total']:,}", f"{managed['total']:,} ({share:.1%})"),
        (
            "peak request tokens",
            f"{free['peak']:,}",
            f"{managed['peak']:,} (window {args.window:,}, threshold {managed['limit']:,})",
        ),
        ("facts in the last request", facts(free), facts(managed)),
        (
            "requests holding the deploy key",
            f"{free['secret_share']:.0%}",
            f"{managed['secret_share']:.0%}",
        ),
        ("wall time (s, counting excluded)", f"{free['wall']:.1f}", f"{managed['wall']:.1f}"),
        ("context manager ms/step (no model)", "-", f"{managed['prepare_ms']:.2f}"),
    ]
    print(
        f"{args.steps} steps, ~{args.file_kb} KB tool outputs; tokens counted with tiktoken "
        "(cl100k) on the requests the server received"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'unmanaged':<22}  managed")
    for label, a, b in rows:
        print(f"{label:<{width}}  {a!s:<22}  {b}")
    print(
        "facts checked (managed):",
        ", ".join(f"{k} {'kept' if v else 'LOST'}" for k, v in managed["facts"].items()),
    )
    print(
        f"counting the unmanaged final history ({len(free['history'])} messages): "
        f"LiteLLM whole {whole_ms:.0f} ms, cached per message {cached_ms:.2f} ms"
    )
    ok = (
        managed["ok"]
        and managed["peak"] < args.window
        and share < 0.35
        and all(managed["facts"].values())
    )
    print(
        "targets (peak < window, total < 35% of unmanaged, facts kept):", "met" if ok else "MISSED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
