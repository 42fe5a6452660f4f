"""`%claw sessions` and `%claw log` as tables a person reads: few columns, seconds, no NaN.

The full frames stay one `--all` away; these are views of them, built with pandas.
"""

from __future__ import annotations

from typing import Any

from claw_nb.jupyter.widget_html import stop_words


def _first_line(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    line = " ".join(value.strip().splitlines()[0].split()) if value.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def _blank(value: Any) -> bool:
    import pandas as pd

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def readable_sessions(frame: Any) -> Any:
    """Sessions: id, started, model, task, steps, seconds, how it ended."""
    import pandas as pd

    rows = []
    for r in frame.to_dict("records"):
        started, ended = r.get("started_at"), r.get("ended_at")
        seconds = ""
        if not _blank(started) and not _blank(ended):
            seconds = round((pd.Timestamp(ended) - pd.Timestamp(started)).total_seconds(), 1)
        reason = r.get("stop_reason")
        rows.append(
            {
                "session_id": r.get("session_id"),
                "started": ""
                if _blank(started)
                else pd.Timestamp(started).strftime("%Y-%m-%d %H:%M"),
                "model": r.get("model") or "",
                "task": _first_line(r.get("task"), 60),
                "steps": "" if _blank(r.get("steps")) else int(r["steps"]),
                "seconds": seconds,
                "ended": "running (or the kernel died)" if _blank(reason) else stop_words(reason),
            }
        )
    columns = ["session_id", "started", "model", "task", "steps", "seconds", "ended"]
    return pd.DataFrame(rows, columns=columns)


def readable_log(frame: Any) -> Any:
    """A session's calls: step, kind, name, ok, seconds, tokens, and one line of detail."""
    import pandas as pd

    rows = []
    for r in frame.to_dict("records"):
        ms = r.get("ms")
        prompt, completion = r.get("prompt_tokens"), r.get("completion_tokens")
        tokens = "" if _blank(prompt) else f"{int(prompt):,} in / {int(completion or 0):,} out"
        detail = r.get("detail")
        what = r.get("arguments") if r.get("kind") == "tool" else None
        rows.append(
            {
                "step": "" if _blank(r.get("step")) else int(r["step"]),
                "kind": r.get("kind") or "",
                "name": r.get("name") or "",
                "ok": "" if _blank(r.get("ok")) else bool(r["ok"]),
                "seconds": "" if _blank(ms) else round(float(ms) / 1000, 2),
                "tokens": tokens,
                "arguments": _first_line(what, 60),
                "detail": "" if _blank(detail) else _first_line(str(detail), 60),
            }
        )
    columns = ["step", "kind", "name", "ok", "seconds", "tokens", "arguments", "detail"]
    return pd.DataFrame(rows, columns=columns)
