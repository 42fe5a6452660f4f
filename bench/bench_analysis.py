"""Analysis speed on a big log, run by hand: `python bench/bench_analysis.py [--tool-calls N]`.

Builds a synthetic database with DuckDB SQL (`range()`): 10,000 sessions, N tool calls
(default 1,000,000) and as many model calls, then times the per-session summary query and the
other analysis functions. Target (issue 5): the per-session summary under 1 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def build(db: Path, tool_calls: int, sessions: int) -> None:
    from claw_nb.store import connect

    con = connect(db)
    con.execute(f"""
        INSERT INTO sessions (session_id, started_at, ended_at, model, workspace, task,
                              stop_reason, system_prompt_sha, system_prompt_name, steps)
        SELECT 's' || i, TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE,
               TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE + INTERVAL 90 SECOND,
               CASE WHEN i % 3 = 0 THEN 'ollama_chat/qwen3-coder:30b' ELSE 'openai/local' END,
               '/ws', 'task ' || i, CASE WHEN i % 10 = 0 THEN 'max_steps' ELSE 'completed' END,
               'sha' || (i % 4), 'variant' || (i % 4), {tool_calls // sessions}
        FROM range({sessions}) t(i)""")
    con.execute(f"""
        INSERT INTO llm_calls (session_id, step, model, prompt_tokens, completion_tokens,
                               latency_ms, ttft_ms, tokens_per_s, finish_reason, parts)
        SELECT 's' || (i % {sessions}), i // {sessions} + 1, 'openai/local',
               2000 + (i // {sessions}) * 300, 80, 900 + i % 500, 120, 40.0, 'tool_calls',
               '{{"system": 900, "tools": 1100, "history": 200, "tool_results": 300}}'
        FROM range({tool_calls}) t(i)""")
    con.execute(f"""
        INSERT INTO tool_calls (session_id, step, call_id, tool, arguments, ok, error_kind,
                                duration_ms, result_chars, result_chars_sent)
        SELECT 's' || (i % {sessions}), i // {sessions} + 1, 'c' || i,
               ['read_file', 'edit_file', 'run_command', 'grep'][i % 4 + 1], '{{}}',
               i % 17 <> 0, CASE WHEN i % 17 = 0 THEN 'tool_error' END, 5 + i % 40, 1200, 1200
        FROM range({tool_calls}) t(i)""")
    con.close()


def timed(label: str, fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        rows = len(fn())
        best = min(best, time.perf_counter() - start)
    print(f"{label:<34} {best * 1000:8.1f} ms  ({rows:,} rows)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool-calls", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    from claw_nb import analysis
    from claw_nb.store import connect

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.duckdb"
        start = time.perf_counter()
        build(db, args.tool_calls, args.sessions)
        print(f"built {args.tool_calls:,} tool calls + {args.tool_calls:,} model calls over "
              f"{args.sessions:,} sessions in {time.perf_counter() - start:.1f} s")
        con = connect(db)  # one open connection, as a notebook would hold
        try:
            summary = timed("per-session summary", lambda: analysis.sessions(con))
            timed("tool error rates", lambda: analysis.tool_errors(con))
            timed("compare models", lambda: analysis.compare(con, by="model"))
            timed("compare prompt variants", lambda: analysis.compare(con, by="prompt"))
            timed("tokens per step (all sessions)", lambda: analysis.tokens_per_step(con))
            timed("token split (one session)", lambda: analysis.token_split(con, "s42"))
        finally:
            con.close()
        verdict = "OK" if summary < 1.0 else "MISSED"
        print(f"target: per-session summary under 1 s: {verdict}")


if __name__ == "__main__":
    main()
