"""Per session, what the servers read and how often the prompt cache broke: the analysis
functions and `claw-nb stats`, on hand-made events."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from claw_nb import events as ev
from claw_nb.cli import main
from claw_nb.log import analysis
from claw_nb.log.store import EventLog, connect


def call(sid: str, step: int, **kw) -> ev.ModelCallFinished:
    values = {
        "model": "openai/local",
        "prompt_tokens": 1000 * step,
        "completion_tokens": 20,
        "latency_ms": 500.0,
        "ttft_ms": None,
        "finish_reason": "tool_calls",
    }
    values.update(kw)
    return ev.ModelCallFinished(sid, step=step, **values)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "log.duckdb"
    log = EventLog(path)
    for event in (
        ev.SessionStarted(
            "s1",
            model="openai/local",
            workspace="/ws",
            task="t",
            system_prompt="p",
            system_prompt_sha="sha",
        ),
        # the server said: 300 read, 700 reused, its seconds
        call("s1", 1, prefill_tokens=300, cached_tokens=700, prefill_s=1.5, decode_s=0.25),
        # it said nothing: the whole prompt counts as read
        call("s1", 2),
        # a failed call it did not describe counts nothing; it broke the cache
        call(
            "s1",
            3,
            error="model_timeout: slow",
            cache_break=True,
            cache_break_index=3,
            cache_break_role="tool",
            cache_break_reason="compacted: prune (threshold)",
        ),
        ev.ContextCompacted(  # a summary's prompt of its own: read whole
            "s1",
            "threshold",
            "summary",
            9000,
            3000,
            40,
            6,
            "",
            summary_calls=1,
            summary_prompt_tokens=1500,
            step=3,
        ),
        ev.SessionEnded("s1", "completed", steps=3),
    ):
        log(event)
    log.close()
    return path


def test_sessions_have_prefill_server_seconds_and_cache_breaks(db):
    row = analysis.sessions(db).set_index("session_id").loc["s1"]
    assert row["prefill_tokens"] == 300 + 2000 + 0 + 1500
    assert (row["prefill_s"], row["decode_s"], row["cache_breaks"]) == (1.5, 0.25, 1)
    assert row["cached_tokens"] == 700
    compared = analysis.compare(db, by="model").set_index("model").loc["openai/local"]
    assert compared["prefill_tokens_per_session"] == 3800
    assert compared["cache_breaks_per_session"] == 1


def test_the_break_is_kept_with_where_and_why(db):
    with connect(db) as con:
        rows = con.execute(
            "SELECT step, cache_break, cache_break_index, cache_break_role, cache_break_reason "
            "FROM llm_calls ORDER BY step"
        ).fetchall()
    assert [list(r) for r in rows] == [
        [1, False, None, None, None],
        [2, False, None, None, None],
        [3, True, 3, "tool", "compacted: prune (threshold)"],
    ]


def test_claw_nb_stats_shows_them_per_session(db, capsys):
    assert main(["stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    frame = pd.read_fwf(io.StringIO(out))
    assert (frame["prefill_tokens"].tolist(), frame["cache_breaks"].tolist()) == ([3800], [1])
