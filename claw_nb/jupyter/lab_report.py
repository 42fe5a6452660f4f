"""A lab leaderboard in the notebook: the rounded table, its notes and a plot of pass rates with
their intervals, drawn as inline SVG (matplotlib is not a dependency of claw_nb).

`%claw lab report` returns a :class:`LabReport`; the lab view draws one as trials finish.
`report.frame` is the leaderboard with every column and raw numbers (`%claw lab report --all`
returns it directly).
"""

from __future__ import annotations

import html
from typing import Any

from claw_nb.lab.readable import (
    ReadableBoard,
    percent,
    readable_leaderboard,
    readable_per_task,
    undefined,
)

PLAN_HINT = "%claw lab plan N"
_CELL = "padding:2px 8px;text-align:right;white-space:nowrap"


class LabReport:
    """A leaderboard as a person reads it; the numbers are `statistics.leaderboard`'s."""

    def __init__(self, frame: Any, per_task: Any = None, title: str = "") -> None:
        self.frame = frame
        self.per_task = per_task
        self.title = title
        self.readable: ReadableBoard = readable_leaderboard(frame, plan_hint=PLAN_HINT)

    @property
    def table(self) -> Any:
        """The rounded table (strings), as shown."""
        return self.readable.table

    @property
    def notes(self) -> tuple[str, ...]:
        return self.readable.notes

    def text(self) -> str:
        parts = [self.title] if self.title else []
        parts.append(self.readable.text())
        if self.per_task is not None and len(self.per_task):
            parts += ["", "mean reward per task:", readable_per_task(self.per_task).to_string()]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        parts = [f"<b>{html.escape(self.title)}</b>"] if self.title else []
        parts.append(table_html(self.table))
        parts.append(pass_rate_svg(self.frame))
        parts.append(
            "<div style='font-size:85%;color:#555;max-width:60em'>"
            + "".join(f"<div>{html.escape(note)}</div>" for note in self.notes)
            + "</div>"
        )
        if self.per_task is not None and len(self.per_task):
            table = readable_per_task(self.per_task).reset_index()
            parts += ["<div style='margin-top:6px'>mean reward per task</div>", table_html(table)]
        return "<div class='claw-lab-report'>" + "".join(parts) + "</div>"


def table_html(frame: Any) -> str:
    """A small table with the cells right-aligned and every value escaped."""
    if frame is None or len(frame) == 0:
        return "<div><i>no finished trials yet</i></div>"
    head = "".join(
        f"<th style='{_CELL}{';text-align:left' if i == 0 else ''}'>{html.escape(str(c))}</th>"
        for i, c in enumerate(frame.columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='{_CELL}{';text-align:left' if i == 0 else ''}'>{html.escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return (
        "<table style='border-collapse:collapse;font-size:90%'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def pass_rate_svg(frame: Any, confidence: float = 0.95) -> str:
    """Pass rate per variant as a dot with its interval as a bar, 0-100% across."""
    if frame is None or len(frame) == 0 or "pass_rate" not in frame:
        return ""
    rows = frame.to_dict("records")
    label_w, plot_w, row_h, top = 150, 300, 22, 8
    x0 = label_w + 10
    axis_y = top + row_h * len(rows) + 4
    height = axis_y + 34
    width = x0 + plot_w + 60

    def x(share: float) -> float:
        return x0 + plot_w * min(max(float(share), 0.0), 1.0)

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"font-family='sans-serif' font-size='11' role='img' "
        f"aria-label='pass rate per variant with its {confidence * 100:g}% interval'>"
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f"<line x1='{x(tick):.1f}' y1='{top}' x2='{x(tick):.1f}' y2='{axis_y}' "
            "stroke='#ddd'/>"
            f"<text x='{x(tick):.1f}' y='{axis_y + 13}' text-anchor='middle' fill='#555'>"
            f"{tick * 100:.0f}%</text>"
        )
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        name = str(r.get("variant"))
        name = name if len(name) <= 22 else name[:21] + "\u2026"
        baseline = bool(r.get("baseline")) and len(rows) > 1
        out.append(
            f"<text x='{label_w}' y='{y + 4:.1f}' text-anchor='end'>"
            f"{html.escape(name)}{' (baseline)' if baseline else ''}</text>"
        )
        lo, hi, rate = r.get("lo"), r.get("hi"), r.get("pass_rate")
        if not undefined(lo) and not undefined(hi):
            out.append(
                f"<line x1='{x(lo):.1f}' y1='{y:.1f}' x2='{x(hi):.1f}' y2='{y:.1f}' "
                "stroke='#4c72b0' stroke-width='2'/>"
                + "".join(
                    f"<line x1='{x(v):.1f}' y1='{y - 5:.1f}' x2='{x(v):.1f}' y2='{y + 5:.1f}' "
                    "stroke='#4c72b0' stroke-width='2'/>"
                    for v in (lo, hi)
                )
            )
        if not undefined(rate):
            fill = "white" if baseline else "#4c72b0"
            out.append(
                f"<circle cx='{x(rate):.1f}' cy='{y:.1f}' r='4.5' fill='{fill}' "
                "stroke='#4c72b0' stroke-width='2'/>"
                f"<text x='{x0 + plot_w + 8}' y='{y + 4:.1f}'>{percent(rate)}</text>"
            )
    out.append(
        f"<text x='{x0 + plot_w / 2:.1f}' y='{axis_y + 28}' text-anchor='middle' fill='#555'>"
        f"pass rate, bars: {confidence * 100:g}% CI</text></svg>"
    )
    return "<div>" + "".join(out) + "</div>"
