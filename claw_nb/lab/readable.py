"""The leaderboard as a person reads it: rounded, its intervals and tests named, gaps explained.

`claw_nb.lab.statistics.leaderboard` returns raw numbers (`0.438503`, `3939.333333`, `NaN`);
this turns one into a table of strings with the columns a person needs and the notes that say
what they mean (which interval, which test, why a cell is empty, when the sample is small).
Presentation only: the numbers are the statistics module's, untouched. Shell-neutral text;
the notebook renders it as HTML (`claw_nb.jupyter.lab_report`).

Rates are percentages with 0 or 1 decimal, tokens integers with thousands separators, seconds
one decimal, a value that is not defined "–".
"""

from __future__ import annotations

import math
from typing import Any

from claw_nb.records import record

DASH = "\u2013"  # an en dash: a value that is not defined
SMALL_MARK = "*"

INTERVAL_METHODS = {
    "Wilson": "Wilson score interval (one pass/fail run per task)",
    "bootstrap over tasks": (
        "percentile bootstrap over tasks, each with its repeats (10,000 resamples)"
    ),
    "Wilson over tasks": (
        "Wilson score interval over tasks (every task scored alike, so a bootstrap sees no spread)"
    ),
}
TEST_METHODS = {
    "exact McNemar": "exact McNemar test (one pass/fail run per task)",
    "sign-flip permutation": "paired sign-flip permutation test on the per-task means",
    "sign-flip permutation (Monte Carlo)": (
        "paired sign-flip permutation test on the per-task means (Monte Carlo)"
    ),
}
TAMPER_NOTE = (
    "tampered: trials that changed what decides their verdict (tests, conftest.py, pytest "
    "settings, import hooks); their rewards are shown as measured. Optimizers score them 0."
)


def undefined(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def percent(value: Any) -> str:
    """0.438503 -> '43.9%', 0.5 -> '50%': one decimal only where it says something."""
    if undefined(value):
        return DASH
    share = float(value) * 100
    whole = round(share)
    return f"{whole:.0f}%" if abs(share - whole) < 0.05 else f"{share:.1f}%"


def points(value: Any, signed: bool = True) -> str:
    """A difference of rates in percentage points: 0.3333 -> '+33.3'."""
    if undefined(value):
        return DASH
    share = float(value) * 100
    whole = round(share)
    text = f"{whole:.0f}" if abs(share - whole) < 0.05 else f"{share:.1f}"
    if text in ("0", "-0", "0.0", "-0.0"):
        return "0"
    return f"+{text}" if signed and share > 0 else text.replace("-", "\u2212")


def integer(value: Any) -> str:
    """3939.333 -> '3,939'."""
    return DASH if undefined(value) else f"{round(float(value)):,}"


def seconds(value: Any) -> str:
    return DASH if undefined(value) else f"{float(value):.1f}"


def p_value(value: Any) -> str:
    if undefined(value):
        return DASH
    p = float(value)
    if p < 0.001:
        return "<0.001"
    return f"{p:.2f}" if p >= 0.1 else f"{p:.3f}"


def interval(lo: Any, hi: Any, fmt: Any = percent) -> str:
    """'[30%, 90%]' (brackets, so a dash only ever means 'not defined')."""
    if undefined(lo) or undefined(hi):
        return DASH
    return f"[{fmt(lo)}, {fmt(hi)}]"


@record(frozen=True)
class ReadableBoard:
    """A leaderboard's table of strings and the notes under it."""

    table: Any  # pandas.DataFrame of strings, one row per variant
    notes: tuple[str, ...]

    def text(self) -> str:
        """Aligned text: the table, then a line per note."""
        body = self.table.to_string(index=False) if len(self.table) else "(no trials yet)"
        return body + "".join(f"\n{note}" for note in self.notes)


def readable_leaderboard(
    board: Any, confidence: float = 0.95, plan_hint: str = "claw-nb lab plan N"
) -> ReadableBoard:
    """`board` (a `statistics.leaderboard` frame) as strings with notes; `plan_hint`: the
    command that says what a suite this size can detect, in the reader's shell."""
    import pandas as pd

    if board is None or len(board) == 0:
        return ReadableBoard(pd.DataFrame(columns=["variant"]), ())
    ci = f"{confidence * 100:g}% CI"
    rows = [r for r in board.to_dict("records")]
    challengers = [r for r in rows if not r.get("baseline")]
    k = int(rows[0].get("k") or 0) if "k" in board else 0
    flag_rate = not challengers and any(bool(r.get("small_sample")) for r in rows)
    table = []
    for r in rows:
        base = bool(r.get("baseline"))
        small = bool(r.get("small_sample"))
        row = {
            "variant": f"{r['variant']} (baseline)" if base and challengers else str(r["variant"]),
            "trials": integer(r.get("trials")),
            "pass rate": percent(r.get("pass_rate")) + (SMALL_MARK if flag_rate and small else ""),
            ci: interval(r.get("lo"), r.get("hi")),
        }
        if k > 1:
            row[f"pass@{k}"] = percent(r.get("pass@k"))
            row[f"pass^{k}"] = percent(r.get("pass^k"))
        if challengers:
            row["\u0394 vs baseline (pts)"] = (
                "" if base else points(r.get("diff")) + (SMALL_MARK if small else "")
            )
            row[f"{ci} of \u0394"] = (
                "" if base else interval(r.get("diff_lo"), r.get("diff_hi"), points)
            )
            row["p (Holm)"] = "" if base else p_value(r.get("p_holm"))
            row["W/L/T"] = (
                "" if base else f"{int(r.get('wins', 0))}/{int(r['losses'])}/{int(r['ties'])}"
            )
        row["tokens/solved"] = integer(r.get("tokens_per_solved"))
        row["s/solved"] = seconds(r.get("seconds_per_solved"))
        for flag in ("stuck", "tampered"):
            if flag in board and int(board[flag].sum()):
                row[flag] = integer(r.get(flag))
        table.append(row)
    frame = pd.DataFrame(table)
    return ReadableBoard(frame, _notes(board, rows, challengers, ci, plan_hint, frame))


def _notes(
    board: Any, rows: list[dict], challengers: list[dict], ci: str, plan_hint: str, frame: Any
) -> tuple[str, ...]:
    notes = []
    by_method: dict[str, list[str]] = {}
    for r in rows:
        by_method.setdefault(str(r.get("interval") or ""), []).append(str(r["variant"]))
    if len(by_method) == 1:
        methods = [INTERVAL_METHODS.get(m, m) for m in by_method]
    else:  # say which variant got which
        methods = [f"{', '.join(v)}: {INTERVAL_METHODS.get(m, m)}" for m, v in by_method.items()]
    notes.append(f"{ci} of the pass rate: {'; '.join(methods) or 'none'}.")
    if challengers:
        tests = [TEST_METHODS.get(t, t) for t in dict.fromkeys(r.get("test") for r in challengers)]
        tests = [t for t in tests if t and t != "none"]
        notes.append(
            f"\u0394: candidate minus baseline in percentage points, paired on tasks; its {ci}: "
            "paired percentile bootstrap over tasks. p (Holm): "
            f"{'; '.join(tests) or 'no test'}, Holm-corrected across the "
            f"{len(challengers)} challenger(s). W/L/T: tasks won, lost, tied against the "
            "baseline."
        )
    notes.append(
        "tokens/solved, s/solved: the variant's tokens (prompt + completion) and wall seconds "
        "over all its trials, divided by the trials it solved."
    )
    gaps = []
    if (frame == DASH).any().any():
        if any(undefined(r.get("tokens_per_solved")) for r in rows):
            gaps.append("a variant solved nothing, so there is no cost per solved task")
        if any(undefined(r.get("diff")) for r in challengers):
            gaps.append("no task was run by both the variant and the baseline")
        if any(undefined(r.get("lo")) for r in rows):
            gaps.append("no interval without finished tasks")
        notes.append(f"{DASH}: not defined ({'; '.join(gaps) or 'no value'}).")
    small = [r for r in rows if r.get("small_sample")]
    if small:
        detail = "; ".join(dict.fromkeys(_why_small(r, bool(challengers)) for r in small))
        notes.append(
            f"{SMALL_MARK} small sample: differences this size may be noise"
            + f" ({detail})"
            + f"; what this suite can detect: {plan_hint}."
        )
    if "stuck" in board and int(board["stuck"].sum()):
        notes.append(
            "stuck: trials the loop guard ended (the model repeated a call after a warning)."
        )
    if "tampered" in board and int(board["tampered"].sum()):
        notes.append(TAMPER_NOTE)
    return tuple(notes)


def _why_small(row: dict, compared: bool) -> str:
    from claw_nb.lab.statistics import SMALL_DISCORDANT, SMALL_TASKS

    tasks = int(row.get("tasks") or 0)
    if tasks < SMALL_TASKS:
        return f"{tasks} tasks, fewer than {SMALL_TASKS}"
    differ = int(row.get("wins") or 0) + int(row.get("losses") or 0)
    if compared and not row.get("baseline"):
        return f"the variants differ on {differ} tasks, fewer than {SMALL_DISCORDANT}"
    return "few tasks"


def readable_per_task(table: Any) -> Any:
    """The variant x task table of mean rewards as percentages (`–`: not run)."""
    if table is None or len(table) == 0:
        return table
    return table.apply(lambda column: column.map(percent))
