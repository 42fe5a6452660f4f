"""Putting back what a session changed after a step, without overwriting anyone else's work.

For each path the session changed after step N, the plan compares the file now with what the
session left there (the hash after its last change). Equal: the file is restored to what it was
before the first of those changes (or deleted, if the session created it). Different: someone
changed it since (the user, another session), so it is a conflict, left alone unless `force`.
Also a conflict: a gap in the chain (the file changed between two of the session's own
changes). Writes go through the file tools' no-follow atomic write, deletes through a
descriptor walk from the workspace: a link planted in the workspace is never followed.

A rewind marks the changes it undid in the store, so a second rewind does not redo them.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.checkpoints.live_cells import cells_blob, cells_from_blob
from claw_nb.checkpoints.scan import MAX_FILE_BYTES, MAX_SCAN_BYTES, current_bytes
from claw_nb.checkpoints.store import (
    NOT_KEPT,
    TOO_LARGE,
    UNREADABLE,
    Change,
    CheckpointError,
    CheckpointStore,
    SessionRecord,
    content_hash,
    is_known,
)
from claw_nb.records import record
from claw_nb.tools.base import ToolError
from claw_nb.tools.safe_io import write_atomic
from claw_nb.untrusted import UntrustedPathRefused, parent_beneath

# Why a content before a change was not kept, by the marker the store holds instead.
UNKNOWN = {
    TOO_LARGE: f"not kept: it was over the {MAX_FILE_BYTES >> 20} MiB limit",
    UNREADABLE: "not kept: it was not a readable regular file",
    NOT_KEPT: f"not kept: the scan's {MAX_SCAN_BYTES >> 20} MiB read budget was spent",
}


class Action(enum.StrEnum):
    RESTORE = "restore"  # write the content it had before
    DELETE = "delete"  # the session created it
    UNCHANGED = "unchanged"  # it already is as before
    CONFLICT = "conflict"  # changed since by someone else: only with force
    CANNOT = "cannot"  # its earlier content was not kept


@record(frozen=True)
class PathPlan:
    """What a rewind does with one path, and why."""

    path: str
    action: Action
    why: str
    changes: tuple[Change, ...]
    fix: Action | None = None  # what `force` does for a conflict

    @property
    def first_step(self) -> int:
        return self.changes[0].step


@record
class RewindReport:
    """What a rewind did (or, before it is applied, would do)."""

    session_id: str
    to_step: int
    workspace: str
    paths: list[PathPlan] = field(default_factory=list)
    unrecorded: list[Change] = field(default_factory=list)
    applied: bool = False
    messages_dropped: int | None = None  # set by a conversation rewind

    def of(self, *actions: Action) -> list[PathPlan]:
        return [p for p in self.paths if p.action in actions]

    @property
    def ok(self) -> bool:
        """True when every change after the step is undone (nothing left to report)."""
        return not self.of(Action.CONFLICT, Action.CANNOT) and not self.unrecorded

    def lines(self) -> list[str]:
        """The report as a person reads it, one line per path."""
        verbs = (
            {Action.RESTORE: "restored", Action.DELETE: "deleted"}
            if self.applied
            else {Action.RESTORE: "would restore", Action.DELETE: "would delete"}
        )
        out = []
        for plan in self.paths:
            word = verbs.get(plan.action, str(plan.action))
            hint = " (--force overwrites it)" if plan.action == Action.CONFLICT else ""
            out.append(f"{word:<14}{plan.path}: {plan.why}{hint}")
        for change in self.unrecorded:
            out.append(f"{'not recorded':<14}step {change.step} {change.tool}: {change.note}")
        if self.messages_dropped is not None:
            out.append(
                f"conversation: {self.messages_dropped} message(s) after step "
                f"{self.to_step} dropped"
            )
        return out or [f"nothing to undo after step {self.to_step}"]


def plan_rewind(
    store: CheckpointStore, session_id: str, to_step: int = 0, *, live: Any = None
) -> RewindReport:
    """What rewinding `session_id` to the end of step `to_step` would do now."""
    record = _load(store, session_id)
    report = RewindReport(session_id, to_step, record.workspace)
    for changes in _by_path(record.active(to_step)):
        report.paths.append(_decide(record, changes, live))
    report.unrecorded = [c for c in record.active(to_step) if c.kind == "unrecorded"]
    return report


def rewind_files(
    store: CheckpointStore,
    session_id: str,
    to_step: int = 0,
    *,
    force: bool = False,
    live: Any = None,
) -> RewindReport:
    """Restore the files `session_id` changed after step `to_step`; conflicts only with
    `force`. Each path is decided again right before it is written."""
    planned = plan_rewind(store, session_id, to_step, live=live)
    record = _load(store, session_id)
    report = RewindReport(session_id, to_step, record.workspace, applied=True)
    undone: list[int] = [c.n for c in planned.unrecorded]
    for plan in planned.paths:
        done = _apply(store, record, _decide(record, plan.changes, live), force, live)
        report.paths.append(done)
        if done.action in (Action.RESTORE, Action.DELETE, Action.UNCHANGED):
            undone += [c.n for c in done.changes]
    report.unrecorded = planned.unrecorded
    store.mark_undone(session_id, undone, to_step)
    return report


def _load(store: CheckpointStore, session_id: str) -> SessionRecord:
    record = store.load(session_id)
    if record is None:
        raise CheckpointError(
            f"session {session_id} has no checkpoints: it changed no files, or ran with "
            "checkpoints off"
        )
    return record


def _by_path(changes: Iterable[Change]) -> list[tuple[Change, ...]]:
    """The changes of each path (file or live notebook), in the order they were made."""
    grouped: dict[tuple[str, str], list[Change]] = {}
    for change in changes:
        if change.kind != "unrecorded":
            grouped.setdefault((change.kind, change.path), []).append(change)
    return [tuple(group) for group in grouped.values()]


def _decide(record: SessionRecord, changes: tuple[Change, ...], live: Any) -> PathPlan:
    """What to do with one path now, from its changes and its current content."""
    first, last = changes[0], changes[-1]
    path = first.path
    target, expected = first.before, last.after
    shown = path if first.kind == "file" else f"{path} (cells, live)"

    def plan(action: Action, why: str, fix: Action | None = None) -> PathPlan:
        return PathPlan(shown, action, why, changes, fix)

    if not is_known(target):
        return plan(Action.CANNOT, f"{UNKNOWN[target]} when step {first.step} changed it")
    if first.kind == "cells":
        if live is None:
            return plan(Action.CANNOT, "edited live in JupyterLab: rewind from that notebook")
        try:
            now: str | None = content_hash(cells_blob(live.cells(first.room)))
        except ToolError as exc:
            return plan(Action.CANNOT, str(exc))
    else:
        try:
            now = _hash_now(Path(record.workspace), _checked(path))
        except UntrustedPathRefused as exc:
            return plan(Action.CANNOT, str(exc))
    fix = Action.DELETE if target is None else Action.RESTORE
    if now == target:
        return plan(Action.UNCHANGED, f"already as before step {first.step}")
    for earlier, later in zip(changes, changes[1:]):
        if later.before != earlier.after:
            return plan(
                Action.CONFLICT,
                f"changed by someone else between steps {earlier.step} and {later.step}",
                fix,
            )
    if now != expected or not is_known(expected):
        return plan(
            Action.CONFLICT,
            f"changed since step {last.step} by someone else",
            fix,
        )
    steps = sorted({c.step for c in changes})
    when = f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]}-{steps[-1]}"
    if target is None:
        return plan(Action.DELETE, f"created at {when}")
    return plan(Action.RESTORE, f"as before {when} ({last.tool})")


def _hash_now(workspace: Path, rel: str) -> str | None:
    data = current_bytes(workspace, rel)
    if data is None or isinstance(data, str):
        return data
    return content_hash(data)


def _checked(rel: str) -> str:
    """`rel` as recorded, refused unless it is a plain relative path inside the workspace."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
        raise UntrustedPathRefused(f"{rel!r} is not a plain relative path; not restored")
    return rel


def _apply(
    store: CheckpointStore, record: SessionRecord, plan: PathPlan, force: bool, live: Any
) -> PathPlan:
    action = plan.fix if plan.action == Action.CONFLICT and force else plan.action
    if action not in (Action.RESTORE, Action.DELETE):
        return plan
    first = plan.changes[0]
    target = first.before
    why = plan.why + (", overwritten (--force)" if plan.action == Action.CONFLICT else "")
    try:
        if first.kind == "cells":
            if target is None:
                raise CheckpointError("no cells were recorded before the edit")
            live.restore(first.room, cells_from_blob(store.get(target)))
        elif target is None:
            _delete(Path(record.workspace), _checked(first.path))
        else:
            _write(store, Path(record.workspace), _checked(first.path), target)
    except (OSError, ToolError, CheckpointError) as exc:
        return PathPlan(plan.path, Action.CANNOT, f"{exc}", plan.changes)
    return PathPlan(plan.path, action, why, plan.changes)


def _write(store: CheckpointStore, workspace: Path, rel: str, sha: str) -> None:
    """Write the stored bytes back, refused if the file changes while it is written."""
    data = store.get(sha)
    now = current_bytes(workspace, rel)
    ws = Path(os.path.realpath(workspace))
    write_atomic(ws, ws / rel, data, expected=now if isinstance(now, bytes) else None)


def _delete(workspace: Path, rel: str) -> None:
    """Unlink the file from its folder's descriptor (a link there is removed, not followed)."""
    ws = Path(os.path.realpath(workspace))
    try:
        with parent_beneath(ws, ws / rel) as (dir_fd, name):
            os.unlink(name, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return  # gone already
