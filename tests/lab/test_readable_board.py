"""The leaderboard as a person reads it: rounded values, named intervals and tests, explained
gaps, the small-sample flag, and the pass-rate plot as inline SVG."""

from __future__ import annotations

import math
import re

import pandas as pd

from claw_nb.jupyter.lab_report import LabReport, pass_rate_svg
from claw_nb.lab import statistics
from claw_nb.lab.readable import (
    DASH,
    p_value,
    percent,
    points,
    readable_leaderboard,
    readable_per_task,
)
from claw_nb.lab.trials import TrialResult

NAN = math.nan


def board(**changes) -> pd.DataFrame:
    """Two variants as `statistics.leaderboard` returns them, with the issue's numbers."""
    rows = [
        {
            "variant": "terse",
            "tasks": 12,
            "trials": 36,
            "pass_rate": 0.438503,
            "lo": 0.291,
            "hi": 0.6,
            "interval": "bootstrap over tasks",
            "solved": 15,
            "tokens_per_solved": 3939.333333,
            "seconds_per_solved": 12.3456,
            "tool_error_rate": 0.02,
            "tampered": 0,
            "stuck": 0,
            "baseline": False,
            "diff": 0.104,
            "diff_lo": -0.02,
            "diff_hi": 0.25,
            "p_value": 0.0155,
            "p_holm": 0.031,
            "wins": 5,
            "losses": 1,
            "ties": 6,
            "test": "sign-flip permutation",
            "small_sample": False,
        },
        {
            "variant": "base",
            "tasks": 12,
            "trials": 36,
            "pass_rate": 0.0,
            "lo": 0.0,
            "hi": 0.243,
            "interval": "Wilson over tasks",
            "solved": 0,
            "tokens_per_solved": NAN,
            "seconds_per_solved": NAN,
            "tool_error_rate": 0.0,
            "tampered": 0,
            "stuck": 0,
            "baseline": True,
            "diff": NAN,
            "diff_lo": NAN,
            "diff_hi": NAN,
            "p_value": NAN,
            "p_holm": NAN,
            "wins": 0,
            "losses": 0,
            "ties": 0,
            "test": "",
            "small_sample": False,
        },
    ]
    for row in rows:
        row.update(changes.get(row["variant"], {}))
    return pd.DataFrame(rows)


def test_numbers_are_rounded_for_reading():
    assert percent(0.438503) == "43.9%" and percent(0.5) == "50%" and percent(2 / 3) == "66.7%"
    assert percent(NAN) == DASH and points(0.104) == "+10.4" and points(-0.25) == "\u221225"
    assert p_value(0.031) == "0.031" and p_value(0.5) == "0.50" and p_value(1e-5) == "<0.001"
    table = readable_leaderboard(board()).table
    terse = table.iloc[0].to_dict()
    assert terse["pass rate"] == "43.9%" and terse["95% CI"] == "[29.1%, 60%]"
    assert terse["tokens/solved"] == "3,939" and terse["s/solved"] == "12.3"
    assert terse["\u0394 vs baseline (pts)"] == "+10.4" and terse["W/L/T"] == "5/1/6"
    assert terse["95% CI of \u0394"] == "[\u22122, +25]" and terse["p (Holm)"] == "0.031"
    base = table.iloc[1].to_dict()
    assert base["variant"] == "base (baseline)" and base["tokens/solved"] == DASH
    assert base["\u0394 vs baseline (pts)"] == "" and base["p (Holm)"] == ""
    assert not any("NaN" in str(v) or "nan" in str(v) for v in table.to_numpy().ravel())


def test_every_interval_test_and_gap_is_explained_in_a_note():
    notes = "\n".join(readable_leaderboard(board()).notes)
    assert "terse: percentile bootstrap over tasks" in notes
    assert "base: Wilson score interval over tasks" in notes
    assert "paired percentile bootstrap over tasks" in notes
    assert "paired sign-flip permutation test" in notes and "Holm-corrected" in notes
    assert f"{DASH}: not defined (a variant solved nothing" in notes
    assert "small sample" not in notes


def test_small_samples_are_flagged_as_the_cli_does():
    small = board(terse={"small_sample": True, "tasks": 6}, base={"tasks": 6})
    readable = readable_leaderboard(small, plan_hint="%claw lab plan N")
    assert readable.table.iloc[0]["\u0394 vs baseline (pts)"] == "+10.4*"
    note = readable.notes[-1]
    assert note.startswith("* small sample: differences this size may be noise")
    assert "6 tasks, fewer than 10" in note and "%claw lab plan N" in note


def test_a_board_from_real_results_reads_the_same_way():
    results = [
        TrialResult("e", v, f"t{i}", 0, r, r == 1, "completed", 2, 100, 20, 1.5, 0, None, None, "")
        for v, rewards in (("a", (1, 0, 0)), ("b", (1, 1, 0)))
        for i, r in enumerate(rewards)
    ]
    readable = readable_leaderboard(statistics.leaderboard(results))
    assert readable.table["pass rate"].tolist() == ["66.7%", "33.3%"]
    assert readable.table["tokens/solved"].tolist() == ["180", "360"]
    assert any("exact McNemar" in n for n in readable.notes)
    assert any("Wilson score interval (one pass/fail run per task)" in n for n in readable.notes)


def test_the_plot_draws_each_variant_with_its_interval_and_escapes_names():
    frame = board(terse={"variant": "<img src=x onerror=alert(1)>"})
    svg = pass_rate_svg(frame)
    assert svg.count("<circle") == 2 and "pass rate, bars: 95% CI" in svg
    assert "<img" not in svg and "&lt;img" in svg
    html = LabReport(frame, title="<b>x</b>")._repr_html_()
    assert "<img" not in html and "<b>x</b>" not in html and "<svg" in html
    assert re.search(r"<th[^>]*>95% CI</th>", html)
    assert "not defined" in html  # the notes come with the table


def test_the_per_task_table_is_in_percent():
    table = pd.DataFrame({"a": [1.0, 0.5], "b": [NAN, 1 / 3]}, index=["t1", "t2"])
    shown = readable_per_task(table)
    assert shown.loc["t1"].tolist() == ["100%", DASH] and shown.loc["t2"].tolist() == [
        "50%",
        "33.3%",
    ]
