"""Logging overhead and analysis speed, run by hand: `python bench/bench_analysis.py`.

1. Logging overhead per event: what the agent's listener (`EventLog`) costs for each event of a
   realistic step (model call with its token split, tool call, messages), as in
   `bench/bench_logging.py` (which also measures ingest).
2. Analysis over a synthetic log built with DuckDB SQL (`range()`): 10,000 sessions,
   `--tool-calls` tool calls (default 1,000,000) and as many model calls. Times the per-session
   summary and every other analysis function, on an open connection (as a notebook holds one)
   and opening the file by path each time. Target: the per-session summary under 1 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def build(db: Path, tool_calls: int, sessions: int) -> None:
    from claw_nb.log.store import connect

    per_session = max(1, tool_calls // sessions)
    con = connect(db)
    con.execute(f"""
        INSERT INTO sessions (session_id, started_at, ended_at, model, workspace, task,
                              stop_reason, system_prompt_sha, system_prompt_name, steps)
        SELECT 's' || i, TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE,
               TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE + INTERVAL 90 SECOND,
               CASE WHEN i % 3 = 0 THEN 'ollama_chat/qwen3-coder:30b' ELSE 'openai/local' END,
               '/ws', 'task ' || i, CASE WHEN i % 10 = 0 THEN 'max_steps' ELSE 'completed' END,
               'sha' || (i % 4), 'variant' || (i % 4), {per_session}
        FROM range({sessions}) t(i)""")
    con.execute(f"""
        INSERT INTO llm_calls (session_id, step, model, prompt_tokens, completion_tokens,
                               cached_tokens, latency_ms, ttft_ms, tokens_per_s, finish_reason,
                               usage_source, message_count, cost_usd, params, parts,
                               system_prompt_sha, system_prompt_name, created_at)
        SELECT 's' || (i % {sessions}), i // {sessions} + 1,
               CASE WHEN i % {sessions} % 3 = 0 THEN 'ollama_chat/qwen3-coder:30b'
                    ELSE 'openai/local' END,
               2000 + (i // {sessions}) * 300, 80, 1500, 900 + i % 500, 120, 40.0, 'tool_calls',
               'server', 2 + 2 * (i // {sessions}), 0.0, '{{"temperature": 0.2}}',
               '{{"system": 900, "tools": 1100, "history": ' || (i // {sessions}) * 100
                   || ', "tool_results": ' || (i // {sessions}) * 200
                   || ', "estimate": 2000, "window": 32768}}',
               'sha' || (i % {sessions} % 4), 'variant' || (i % {sessions} % 4),
               TIMESTAMP '2026-01-01' + INTERVAL (i % {sessions}) MINUTE
        FROM range({tool_calls}) t(i)""")
    con.execute(f"""
        INSERT INTO tool_calls (session_id, step, call_id, tool, arguments, raw_arguments, ok,
                                error_kind, error, result, duration_ms, decision, result_chars,
                                result_chars_sent, created_at)
        SELECT 's' || (i % {sessions}), i // {sessions} + 1, 'c' || i,
               ['read_file', 'edit_file', 'run_command', 'grep'][i % 4 + 1],
               '{{"path": "a.py"}}', '{{"path": "a.py"}}', i % 17 <> 0,
               CASE WHEN i % 17 = 0 THEN ['tool_error', 'schema', 'denied', 'timeout'][i % 4 + 1]
               END,
               CASE WHEN i % 17 = 0 THEN 'failed' END, 'ok', 5 + i % 40,
               'allowed: read-only tool', 1200 + i % 9000, least(1200 + i % 9000, 8000),
               TIMESTAMP '2026-01-01' + INTERVAL (i % {sessions}) MINUTE
        FROM range({tool_calls}) t(i)""")
    con.close()


def timed(label: str, fn, repeat: int = 3) -> float:
    best = float("inf")
    rows = 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = len(fn())
        best = min(best, time.perf_counter() - start)
    print(f"  {label:<40} {best * 1000:8.1f} ms  ({rows:,} rows)")
    return best


def logging_overhead(events: int) -> None:
    import bench_logging

    with tempfile.TemporaryDirectory() as name:
        us, delta_us = bench_logging.append_cost(Path(name), events, fsync=False)
        us_sync, _ = bench_logging.append_cost(Path(name), min(events, 1000), fsync=True)
    print(
        f"logging overhead: {us:.1f} us/event (journal line; {delta_us:.2f} us per skipped "
        f"TextDelta), {us_sync:.0f} us/event with fsync=True; target < 500 us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool-calls", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000, help="events for the log test")
    args = parser.parse_args()

    logging_overhead(args.events)

    from claw_nb.log import analysis
    from claw_nb.log.store import connect

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.duckdb"
        start = time.perf_counter()
        build(db, args.tool_calls, args.sessions)
        print(
            f"built {args.tool_calls:,} tool calls + {args.tool_calls:,} model calls over "
            f"{args.sessions:,} sessions in {time.perf_counter() - start:.1f} s "
            f"({db.stat().st_size / 1e6:.0f} MB)"
        )
        print("on an open connection:")
        con = connect(db)
        try:
            summary = timed("sessions() (per-session summary)", lambda: analysis.sessions(con))
            timed(
                "sessions(since=...) (last 1,000)",
                lambda: analysis.sessions(con, since="2026-01-07 06:00"),
            )
            timed("time_split()", lambda: analysis.time_split(con))
            timed("tool_errors() (by tool and kind)", lambda: analysis.tool_errors(con))
            timed("tool_errors(by='tool')", lambda: analysis.tool_errors(con, by="tool"))
            timed("compare(by='model')", lambda: analysis.compare(con, by="model"))
            timed("compare(by='prompt')", lambda: analysis.compare(con, by="prompt"))
            timed("tokens_by_part(by='prompt')", lambda: analysis.tokens_by_part(con, by="prompt"))
            timed("tokens_per_step() (every call)", lambda: analysis.tokens_per_step(con))
            timed("token_split(session_id=...)", lambda: analysis.token_split(con, "s42"))
            timed("tokens_per_step(session_id=...)", lambda: analysis.tokens_per_step(con, "s42"))
            with tempfile.TemporaryDirectory() as out:
                timed(
                    "export_parquet() (8 tables -> files)",
                    lambda: analysis.export_parquet(con, out),
                    repeat=1,
                )
        finally:
            con.close()
        print("opening the file each time (what `claw-nb stats` does):")
        by_path = timed("sessions(path)", lambda: analysis.sessions(db))
        verdict = "met" if max(summary, by_path) < 1.0 else "MISSED"
        print(
            f"target, per-session summary over {args.tool_calls:,} tool calls under 1 s: "
            f"{verdict} ({summary * 1000:.0f} ms on a connection, {by_path * 1000:.0f} ms "
            "by path)"
        )


if __name__ == "__main__":
    main()
