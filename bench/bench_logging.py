"""Logging figures, run by hand: `python bench/bench_logging.py [--events 20000]`.

- per-event cost of the agent's listener (`EventLog.__call__`: JSON line appended to the
  journal), without and with fsync; target < 0.5 ms per event
- ingest rate: journal lines moved into DuckDB per second, and rows written per second
- end of session: what the `SessionEnded` event costs the agent (journal close + ingest)
Everything runs in a temporary directory; nothing is left behind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from claw_nb import events as ev
from claw_nb.log import store
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.journal_reader import list_journals

PROMPT = "You are a coding agent.\n" * 200
RESULT = "".join(f"{i:5d}\tsome line of a source file, as read_file shows it\n" for i in range(40))


def step_events(sid: str, step: int, result: str = RESULT) -> list[ev.Event]:
    """What one agent step emits: streamed text, a model call, a tool call and its result."""
    call_id = f"call_{step}"
    args = {"path": f"src/module_{step}.py"}
    raw = f'{{"path": "src/module_{step}.py"}}'
    seq = 2 + 2 * step
    return [
        *[ev.TextDelta(sid, step, "tok ") for _ in range(20)],  # not journaled
        ev.ModelCallFinished(
            sid,
            step=step,
            model="ollama_chat/qwen3-coder:30b",
            prompt_tokens=4000 + step * 300,
            completion_tokens=60,
            latency_ms=2400.0,
            ttft_ms=350.0,
            finish_reason="tool_calls",
            streamed=True,
            message_count=seq,
            params={"temperature": 0.2, "num_ctx": 32768},
            parts={"system": 1800, "tools": 900, "history": 1300 + step * 300},
        ),
        ev.MessageAdded(
            sid,
            seq,
            {
                "role": "assistant",
                "content": "Let me look at the module.",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "read_file", "arguments": raw},
                    }
                ],
            },
        ),
        ev.ToolCallStarted(sid, step, call_id, "read_file", args, raw),
        ev.ToolCallFinished(
            sid,
            step=step,
            call_id=call_id,
            tool="read_file",
            arguments=args,
            raw_arguments=raw,
            ok=True,
            result=result,
            duration_ms=0.8,
            decision="allowed: read-only tool",
            result_chars=len(result),
            result_chars_sent=len(result),
        ),
        ev.MessageAdded(
            sid,
            seq + 1,
            {"role": "tool", "tool_call_id": call_id, "name": "read_file", "content": result},
        ),
    ]


def session_events(sid: str, steps: int, result: str = RESULT) -> list[ev.Event]:
    out: list[ev.Event] = [
        ev.SessionStarted(
            sid,
            model="ollama_chat/qwen3-coder:30b",
            workspace="/ws",
            task="refactor the parser",
            system_prompt=PROMPT,
            system_prompt_sha="bench",
            system_prompt_name="default",
        ),
        ev.MessageAdded(sid, 0, {"role": "system", "content": PROMPT}),
        ev.MessageAdded(sid, 1, {"role": "user", "content": "refactor the parser"}),
    ]
    for step in range(1, steps + 1):
        out += step_events(sid, step, result)
    out += [ev.FinalAnswer(sid, "Done."), ev.SessionEnded(sid, "completed", steps=steps)]
    return out


def journaled(events: list[ev.Event]) -> int:
    return sum(not isinstance(e, ev.TextDelta) for e in events)


def append_cost(tmp: Path, n_events: int, fsync: bool) -> tuple[float, float]:
    """(microseconds per journaled event, microseconds per TextDelta) over about n_events."""
    log = store.EventLog(tmp / f"append-{fsync}.duckdb", fsync=fsync, ingest_at_end=False)
    steps = max(1, n_events // 5)
    events = session_events("append", steps)[:-1]  # keep the journal open: no SessionEnded
    written = [e for e in events if not isinstance(e, ev.TextDelta)]
    deltas = [e for e in events if isinstance(e, ev.TextDelta)]
    start = time.perf_counter()
    for event in written:
        log(event)
    per_event = (time.perf_counter() - start) / len(written) * 1e6
    start = time.perf_counter()
    for event in deltas:
        log(event)
    per_delta = (time.perf_counter() - start) / len(deltas) * 1e6
    log.close()
    return per_event, per_delta


def ingest_rate(tmp: Path, n_events: int, journals: int, result: str) -> dict[str, float]:
    db = tmp / f"ingest-{len(result)}.duckdb"
    per_session = max(1, n_events // journals // 5)
    total = 0
    for j in range(journals):
        log = store.EventLog(db, ingest_at_end=False)
        events = session_events(f"s{j}", per_session, result)
        for event in events:
            log(event)
        total += journaled(events)
        log.close()
    size = sum(p.stat().st_size for p in list_journals(journal_dir(db)))
    store.ingest(db)  # create the schema outside the timing (the file exists in real use)
    for j in range(journals):  # the sessions again, under new ids
        log = store.EventLog(db, ingest_at_end=False)
        for event in session_events(f"t{j}", per_session, result):
            log(event)
        log.close()
    start = time.perf_counter()
    count = store.ingest(db)
    seconds = time.perf_counter() - start
    con = store.connect(db, read_only=True)
    rows = sum(
        con.execute(f"SELECT count(*) FROM {t} WHERE session_id LIKE 't%'").fetchone()[0]
        for t in ("sessions", "messages", "llm_calls", "tool_calls")
    )
    con.close()
    return {
        "events": count,
        "seconds": seconds,
        "events_per_s": count / seconds,
        "rows_per_s": rows / seconds,
        "journal_mb": size / 1e6,
        "total": total,
    }


def end_of_session_cost(tmp: Path, steps: int, runs: int = 5) -> float:
    """Milliseconds the SessionEnded event takes (close journal + ingest), DuckDB loaded."""
    db = tmp / "end.duckdb"
    store.ingest(db)
    samples = []
    for run in range(runs):
        log = store.EventLog(db)
        *events, end = session_events(f"e{run}", steps)
        for event in events:
            log(event)
        start = time.perf_counter()
        log(end)
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)[len(samples) // 2]


def cold_end_of_session_ms(tmp: Path, steps: int) -> float:
    """The same in a fresh interpreter: includes importing DuckDB for the first ingest."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "import bench_logging as b; from claw_nb.log import store;"
        "log = store.EventLog(sys.argv[3]); *evs, end = b.session_events('cold', int(sys.argv[4]));"
        "[log(e) for e in evs]; t = time.perf_counter(); log(end);"
        "print((time.perf_counter() - t) * 1000)"
    )
    db = tmp / "cold.duckdb"
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(Path(__file__).parent), str(db), str(steps)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events for the append test")
    parser.add_argument("--ingest-events", type=int, default=50000)
    parser.add_argument("--journals", type=int, default=10)
    parser.add_argument("--session-steps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        us, delta_us = append_cost(tmp, args.events, fsync=False)
        print(
            f"journal append: {us:.1f} us/event ({args.events} events; TextDelta skipped in "
            f"{delta_us:.2f} us); target < 500 us"
        )
        us_sync, _ = append_cost(tmp, min(args.events, 1000), fsync=True)
        print(f"journal append with fsync=True: {us_sync:.1f} us/event")
        for label, result in (("2 KB tool results", RESULT), ("short tool results", "ok")):
            r = ingest_rate(tmp, args.ingest_events, args.journals, result)
            print(
                f"ingest, {label}: {r['events']} events from {args.journals} journals "
                f"({r['journal_mb']:.1f} MB) in {r['seconds'] * 1000:.0f} ms = "
                f"{r['events_per_s']:,.0f} events/s, {r['rows_per_s']:,.0f} rows/s"
            )
        end_ms = end_of_session_cost(tmp, args.session_steps)
        n = journaled(session_events("x", args.session_steps))
        cold_ms = cold_end_of_session_ms(tmp, args.session_steps)
        print(
            f"end of session ({n} events, {args.session_steps} steps): SessionEnded takes "
            f"{end_ms:.1f} ms with DuckDB loaded, {cold_ms:.0f} ms in a fresh process "
            "(imports DuckDB)"
        )


if __name__ == "__main__":
    main()
