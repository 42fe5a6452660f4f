"""What reflection sees about a trial, read from the DuckDB log (never from printed text).

For each trial: the task's instruction, its reward, the verifier's output, how the run
stopped, the tool calls that failed and why, and the agent's final answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claw_nb.log.database import DEFAULT_TIMEOUT, open_database
from claw_nb.textclip import clip_middle

MAX_FAILED_CALLS = 8
MAX_FIELD_CHARS = 1_500


def _clip(text: Any, limit: int = MAX_FIELD_CHARS) -> str:
    return clip_middle("" if text is None else str(text), limit)


def _describe_call(tool: str, arguments: Any, kind: Any, error: Any) -> str:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
    reason = f"{kind}: {error}" if kind else str(error or "failed")
    return f"{tool}({_clip(args, 200)}) -> {_clip(reason, 300)}"


def trial_evidence(
    db_path: Path, experiment: str, variant: str, tasks: Sequence[Any]
) -> dict[str, dict[str, Any]]:
    """task name -> the reflective record of its first logged trial for this variant."""
    names = [t.name for t in tasks]
    instructions = {t.name: t.instruction for t in tasks}
    if not names:
        return {}
    con, _ = open_database(Path(db_path), read_only=True, timeout=DEFAULT_TIMEOUT)
    try:
        marks = ", ".join("?" for _ in names)
        trials = con.execute(
            f"""SELECT t.task, t.reward, t.verifier_output, t.stop_reason, t.error, t.session_id,
                       s.final_answer, t.tamper
                FROM trials t LEFT JOIN sessions s ON s.session_id = t.session_id
                WHERE t.experiment = ? AND t.variant = ? AND t.task IN ({marks})
                ORDER BY t.task, t.repeat""",
            [experiment, variant, *names],
        ).fetchall()
        sessions = [row[5] for row in trials if row[5]]
        failed: dict[str, list[str]] = {}
        if sessions:
            smarks = ", ".join("?" for _ in sessions)
            for session_id, tool, arguments, kind, error in con.execute(
                f"""SELECT session_id, tool, arguments, error_kind, error FROM tool_calls
                    WHERE session_id IN ({smarks}) AND NOT coalesce(ok, false)
                    ORDER BY session_id, step""",
                sessions,
            ).fetchall():
                failed.setdefault(session_id, []).append(
                    _describe_call(tool, arguments, kind, error)
                )
    finally:
        con.close()
    records: dict[str, dict[str, Any]] = {}
    for task, reward, verifier, stop_reason, error, session_id, answer, tamper in trials:
        if task in records:
            continue
        calls = failed.get(session_id, [])
        findings = json.loads(tamper) if tamper else []
        records[task] = {
            "task": _clip(instructions.get(task, task)),
            # a flagged trial is shown as failed, with why: never a reward to imitate
            "reward": 0.0 if findings else float(reward or 0.0),
            "tamper": findings,
            "verifier_output": _clip(verifier),
            "stop_reason": stop_reason or "",
            "error": _clip(error) if error else "",
            "failed_tool_calls": calls[:MAX_FAILED_CALLS]
            + (
                [f"... and {len(calls) - MAX_FAILED_CALLS} more"]
                if len(calls) > MAX_FAILED_CALLS
                else []
            ),
            "final_answer": _clip(answer),
        }
    return records
