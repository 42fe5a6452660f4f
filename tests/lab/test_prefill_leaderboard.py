"""The leaderboard's prefill, model-seconds and cache-break columns, checked against figures
computed here from the `llm_calls` (and `compactions`) rows of each trial's session (another
path: the trials' totals come from the agent's events as it runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from claw_nb.cli.lab import format_leaderboard
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.testing import call, text, tool_calls
from tests.lab.test_runner import run

BIG = [f"big_{i}.py" for i in range(5)]
TASK = {
    "name": "read-then-greet",
    "instruction": "Read the big files, then write hello into greeting.txt",
    "files": {
        name: "".join(f"{name} line {i}: value = compute({i})\n" for i in range(110))
        for name in BIG
    },
    "test": (
        "if grep -qx hello greeting.txt 2>/dev/null; then echo 1; else echo 0; fi "
        '> "$REWARD_DIR/reward.txt"\n'
    ),
}


class Reader:
    """Reads the five files in turn, writes the greeting, answers. Its usage is a one-slot
    prompt cache's, like llama.cpp's: the messages the request shares with the one before it
    are cached, the rest is read (tokens: characters / 4)."""

    def __init__(self) -> None:
        self.last: list[dict] = []

    def __call__(self, request: dict):
        messages = request["messages"]
        same = 0
        for before, now in zip(self.last, messages):
            if before != now:
                break
            same += 1
        self.last = messages
        prompt = len(json.dumps(messages)) // 4
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": len(json.dumps(messages[:same])) // 4},
        }
        done = sum(1 for m in messages if m["role"] == "tool")
        if done < len(BIG):
            return tool_calls(call("read_file", {"path": BIG[done]}), usage=usage)
        if done == len(BIG):
            return tool_calls(
                call("write_file", {"path": "greeting.txt", "content": "hello\n"}), usage=usage
            )
        return text("done", usage=usage)


def from_rows(db: Path, experiment: str) -> dict[str, dict[str, float]]:
    """Per variant, from the model calls of its trials' sessions: prefill tokens and model
    seconds per solved task, cache breaks per trial."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        trials = con.execute(
            "SELECT variant, session_id, passed FROM trials WHERE experiment = ?", [experiment]
        ).fetchall()
        calls = con.execute(
            "SELECT session_id, prompt_tokens, prefill_tokens, error, latency_ms, cache_break "
            "FROM llm_calls"
        ).fetchall()
        summaries = con.execute(
            "SELECT session_id, summary_prompt_tokens, duration_ms FROM compactions "
            "WHERE summary_calls > 0"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, float]] = {}
    for variant, session, passed in trials:
        row = out.setdefault(variant, {"prefill": 0, "seconds": 0.0, "breaks": 0, "solved": 0})
        row["trials"] = row.get("trials", 0) + 1
        row["solved"] += bool(passed)
        for sid, prompt, prefill, error, latency, broke in calls:
            if sid != session:
                continue
            row["prefill"] += prefill if prefill is not None else (0 if error else prompt)
            row["seconds"] += latency / 1000
            row["breaks"] += bool(broke)
        for sid, prompt, ms in summaries:  # a summary's prompt is read whole
            if sid == session:
                row["prefill"] += prompt
                row["seconds"] += ms / 1000
    return {
        v: {
            "prefill_per_solved": r["prefill"] / r["solved"] if r["solved"] else math.nan,
            "model_s_per_solved": r["seconds"] / r["solved"] if r["solved"] else math.nan,
            "cache_breaks_per_trial": r["breaks"] / r["trials"],
        }
        for v, r in out.items()
    }


def test_prefill_model_seconds_and_cache_breaks_match_the_logged_calls(
    scripted_server, tmp_path: Path
):
    scripted_server.default = Reader()
    db = tmp_path / "lab.duckdb"
    variants = [Variant("roomy", context_window=100_000), Variant("tight", context_window=12_000)]
    exp = run(scripted_server, db, load_tasks([TASK]), variants, repeats=2, experiment="prefill")
    board = exp.leaderboard(baseline="roomy").set_index("variant")
    expected = from_rows(db, "prefill")
    assert board.loc[["roomy", "tight"], "pass_rate"].tolist() == [1.0, 1.0]
    for variant, figures in expected.items():
        for column, value in figures.items():
            assert board.loc[variant, column] == pytest.approx(value, rel=1e-6), (variant, column)
    # the tight window compacts once per trial (old outputs pruned): one break each
    assert board.loc["tight", "cache_breaks_per_trial"] == 1.0
    assert board.loc["roomy", "cache_breaks_per_trial"] == 0.0
    # the servers' figures count, not whole prompts
    tokens = board.loc["roomy", "tokens_per_solved"]
    assert 0 < board.loc["roomy", "prefill_per_solved"] < 0.5 * tokens
    text_board = format_leaderboard(exp.leaderboard(baseline="roomy"))
    assert "prefill_per_solved" in text_board and "cache_breaks_per_trial" in text_board


def test_trials_recorded_before_the_figures_existed_leave_the_columns_empty():
    from claw_nb.lab.statistics import leaderboard
    from claw_nb.lab.trials import TrialResult

    def trial(repeat, prefill):
        return TrialResult(
            "old",
            "v",
            "t",
            repeat,
            1.0,
            True,
            "completed",
            2,
            100,
            10,
            1.0,
            0,
            None,
            None,
            "",
            prefill_tokens=prefill,
            model_s=None if prefill is None else 0.5,
            cache_breaks=0,
        )

    board = leaderboard([trial(0, None), trial(1, 40)]).set_index("variant")
    assert math.isnan(board.loc["v", "prefill_per_solved"])
    assert math.isnan(board.loc["v", "model_s_per_solved"])
    assert board.loc["v", "cache_breaks_per_trial"] == 0.0
    fresh = leaderboard([trial(0, 60), trial(1, 40)]).set_index("variant")
    assert fresh.loc["v", "prefill_per_solved"] == 50.0


def test_a_trials_meter_counts_what_the_servers_read_and_the_summaries():
    from claw_nb import events as ev
    from claw_nb.lab.trials import TrialMeter

    def model_call(step, **kw):
        return ev.ModelCallFinished("s", step, "m", 1000 * step, 10, 500.0, None, "stop", **kw)

    progress = []
    meter = TrialMeter(("e", "v", "t", 0), progress.append)
    for event in (
        model_call(1, prefill_tokens=900),  # the server said
        model_call(2),  # it did not: the whole prompt
        model_call(3, error="model_timeout: slow", cache_break=True),  # failed: nothing read
        ev.ContextCompacted("s", "threshold", "prune", 9, 8, 7, 6, "", duration_ms=3.0),
        ev.ContextCompacted(
            "s",
            "threshold",
            "summary",
            9,
            3,
            7,
            2,
            "",
            summary_calls=1,
            summary_prompt_tokens=1500,
            duration_ms=4000.0,
        ),
    ):
        meter(event)
    assert meter.prefill_tokens == 900 + 2000 + 0 + 1500
    assert meter.model_s == pytest.approx(3 * 0.5 + 4.0)
    assert meter.cache_breaks == 1
    assert [p.step for p in progress] == [1, 2, 3]  # a progress report per model call, no more
