"""The queries a fork runs against the log: a logged trial's trajectory, an experiment's failed
trials, and marking a fork's session with what it forked.

Like `claw_nb.lab.store` (whose open helpers it uses) each call opens the log for a moment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claw_nb.errors import LabError, SessionNotFound
from claw_nb.lab.store import open_lab_log, reading_lab_log

TOOL_CALL_COLUMNS = (
    "call_id",
    "step",
    "tool",
    "arguments",
    "ok",
    "error_kind",
    "error",
    "result",
    "result_chars",
    "result_chars_sent",
)


def find_trial_session(db_path: Path, prefix: str) -> str:
    """The full id of the logged session `prefix` starts (exact id or unique prefix), as
    `claw-nb show` takes it."""
    if not prefix:
        raise SessionNotFound("give a session id (or a unique prefix of one)")
    if not Path(db_path).exists():
        raise SessionNotFound(f"no log at {db_path}")
    with reading_lab_log(db_path) as con:
        ids = [
            str(r[0])
            for r in con.execute(
                "SELECT session_id FROM sessions WHERE starts_with(session_id, ?) "
                "ORDER BY session_id LIMIT 6",
                [prefix],
            ).fetchall()
        ]
    if prefix in ids:
        return prefix
    if len(ids) > 1:
        raise SessionNotFound(f"session id {prefix!r} is ambiguous: {', '.join(ids[:5])}")
    if not ids:
        raise SessionNotFound(f"no session {prefix!r} in {db_path}; `claw-nb sessions` lists them")
    return ids[0]


def trial_row(db_path: Path, session_id: str) -> dict[str, Any]:
    """The session's trial (experiment, variant, task, repeat, reward, steps, the task's
    source folder, the experiment's config); a LabError for a session that is no trial."""
    with reading_lab_log(db_path) as con:
        row = con.execute(
            """SELECT t.experiment, t.variant, t.task, t."repeat", t.reward, t.steps,
                      t.prompt_tokens, t.completion_tokens, t.wall_s, k.source, e.config
               FROM trials t
               LEFT JOIN tasks k ON k.name = t.task
               LEFT JOIN experiments e ON e.experiment = t.experiment
               WHERE t.session_id = ?""",
            [session_id],
        ).fetchone()
    if row is None:
        raise LabError(
            f"session {session_id} is not a finished lab trial: only trials can be forked "
            "(their task rebuilds the workspace)"
        )
    keys = (
        "experiment",
        "variant",
        "task",
        "repeat",
        "reward",
        "steps",
        "prompt_tokens",
        "completion_tokens",
        "wall_s",
        "source",
        "config",
    )
    data = dict(zip(keys, row))
    data["config"] = json.loads(data["config"]) if data["config"] else {}
    return data


def tool_call_rows(db_path: Path, session_id: str) -> dict[str, dict[str, Any]]:
    """call_id -> the logged row of each tool call of the session."""
    names = ", ".join(f'"{c}"' for c in TOOL_CALL_COLUMNS)
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            f"SELECT {names} FROM tool_calls WHERE session_id = ? ORDER BY step, created_at",
            [session_id],
        ).fetchall()
    return {str(r[0]): dict(zip(TOOL_CALL_COLUMNS, r)) for r in rows}


def failed_trials(db_path: Path, experiment: str) -> list[tuple[str, str, str, int]]:
    """(session_id, variant, task, repeat) of the experiment's failed trials with a session."""
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            """SELECT session_id, variant, task, "repeat" FROM trials
               WHERE experiment = ? AND NOT coalesce(passed, false) AND session_id IS NOT NULL
               ORDER BY variant, task, "repeat\"""",
            [experiment],
        ).fetchall()
    return [(str(s), str(v), str(t), int(r)) for s, v, t, r in rows]


def next_repeat(db_path: Path, experiment: str, variant: str, task: str) -> int:
    """The first repeat number not yet taken in the forks' experiment."""
    with reading_lab_log(db_path) as con:
        row = con.execute(
            'SELECT max("repeat") FROM trials WHERE experiment = ? AND variant = ? AND task = ?',
            [experiment, variant, task],
        ).fetchone()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def mark_forks(db_path: Path, marks: Sequence[tuple[str | None, str, int]]) -> None:
    """Record on each fork's session (fork session, forked session, step) which session it
    forked and at which step, in one open of the log; forks without a session are skipped."""
    marks = [m for m in marks if m[0]]
    if not marks:
        return
    with open_lab_log(db_path) as con:
        con.executemany(
            "UPDATE sessions SET forked_from = ?, fork_step = ? WHERE session_id = ?",
            [[forked_from, step, session_id] for session_id, forked_from, step in marks],
        )


def forks_of(db_path: Path, session_id: str) -> list[tuple[str, int]]:
    """(fork session id, fork step) of every fork made of `session_id`."""
    with reading_lab_log(db_path) as con:
        rows = con.execute(
            "SELECT session_id, fork_step FROM sessions WHERE forked_from = ? ORDER BY started_at",
            [session_id],
        ).fetchall()
    return [(str(s), int(k)) for s, k in rows]


def tokens_before(db_path: Path, session_id: str, step: int) -> tuple[int, int, int]:
    """(model calls, prompt tokens, completion tokens) of the session's steps before `step`:
    what a fork at `step` does not spend again."""
    with reading_lab_log(db_path) as con:
        row = con.execute(
            """SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)
               FROM llm_calls WHERE session_id = ? AND step < ?""",
            [session_id, step],
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def experiment_config(db_path: Path, experiment: str) -> dict[str, Any] | None:
    """The experiment's logged config (model, server, sandboxing), None when there is no such
    experiment."""
    with reading_lab_log(db_path) as con:
        row = con.execute(
            "SELECT config FROM experiments WHERE experiment = ?", [experiment]
        ).fetchone()
    if row is None:
        return None
    return json.loads(row[0]) if row[0] else {}
