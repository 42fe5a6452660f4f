"""Where checkpoints live: content-addressed blobs and one append-only record file per session.

A rewind writes back what the store holds, so the store must be out of the agent's reach: it
lives under the log's journal folder (`journal_dir(db)/checkpoints`), in the user's private
cache that the bubblewrap sandbox hides, never in the workspace. Layout:

    blobs/ab/<sha256>        a file's bytes, zlib-compressed, named by the hash of the bytes
    sessions/<id>.jsonl      a header line, then one line per change (step, tool, path, the
                             hash before and after) and one per rewind (the changes it undid)
    index/<ws hash>.json     the last scan of a workspace: stat and hash per file, so a new
                             process does not read every file again

Identical content is stored once, whichever session or file it came from. Standard library
only; every write is atomic (a temporary file renamed into place) or one `O_APPEND` write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, field
from pathlib import Path
from typing import Any

from claw_nb.errors import ClawError
from claw_nb.records import record

FORMAT = 1
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC

# What a change's `before` / `after` holds besides a content hash.
ABSENT = None  # the file did not exist
TOO_LARGE = "?too-large"  # over the size limit: its content was not kept
UNREADABLE = "?unreadable"  # not a regular file, or it could not be read
NOT_KEPT = "?not-kept"  # a scan's byte budget was spent before it was read
# (a cells record's hashes name a JSON list of cells instead of a file's bytes)


def is_known(value: str | None) -> bool:
    """True for a content hash or ABSENT: a state a rewind can restore."""
    return value is None or not value.startswith("?")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CheckpointError(ClawError):
    """The checkpoint store cannot be used (a bad session id, a damaged blob)."""


@record(frozen=True)
class Change:
    """One recorded change of the workspace by a tool call.

    `kind` is "file" (a path's whole content), "cells" (a notebook's cells edited live in
    JupyterLab's shared document; the hashes name JSON cell lists) or "unrecorded" (a command
    whose changes could not be recorded; `note` says why)."""

    n: int  # position in the session's record file: a rewind names the changes it undid
    step: int
    tool: str
    path: str  # relative to the workspace, POSIX
    before: str | None
    after: str | None
    kind: str = "file"
    call_id: str = ""
    note: str = ""
    room: str = ""  # "cells": the notebook's path relative to the Jupyter server's root


@record
class SessionRecord:
    """What the store holds for one session: its workspace, its changes, what was undone."""

    session_id: str
    workspace: str
    changes: list[Change] = field(default_factory=list)
    undone: set[int] = field(default_factory=set)

    def active(self, after_step: int) -> list[Change]:
        """Changes made after model call `after_step` that no rewind has undone, in order."""
        return [c for c in self.changes if c.step > after_step and c.n not in self.undone]


class CheckpointStore:
    """The blobs and record files of one log database's checkpoints."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._next_n: dict[str, int] = {}
        self._known: set[str] = set()  # blobs this process wrote or saw

    @classmethod
    def for_database(cls, db_path: str | os.PathLike[str]) -> CheckpointStore:
        """The store that goes with the log database `db_path` (beside its journals)."""
        from claw_nb.log.journal_paths import journal_dir

        return cls(journal_dir(db_path) / "checkpoints")

    # -- blobs ------------------------------------------------------------------------------

    def _blob_path(self, sha: str) -> Path:
        if not _SHA.match(sha):
            raise CheckpointError(f"not a content hash: {sha!r}")
        return self.root / "blobs" / sha[:2] / sha

    def has(self, sha: str) -> bool:
        if sha in self._known:
            return True
        found = os.path.isfile(self._blob_path(sha))
        if found:
            self._known.add(sha)
        return found

    def put(self, data: bytes) -> str:
        """Keep `data` (once, whoever asks again); returns its hash."""
        sha = content_hash(data)
        if not self.has(sha):
            path = self._blob_path(sha)
            _write_atomic(path, zlib.compress(data, 1))
            self._known.add(sha)
        return sha

    def get(self, sha: str) -> bytes:
        """The bytes stored under `sha`; CheckpointError when missing or damaged."""
        try:
            raw = _read(self._blob_path(sha))
            data = zlib.decompress(raw)
        except (OSError, zlib.error) as exc:
            raise CheckpointError(f"checkpoint blob {sha[:12]} is missing or damaged") from exc
        if content_hash(data) != sha:
            raise CheckpointError(f"checkpoint blob {sha[:12]} does not match its hash")
        return data

    def disk_bytes(self) -> int:
        """Bytes the store takes on disk (blobs, records and indexes)."""
        total = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(folder, name)).st_size
        return total

    # -- session records --------------------------------------------------------------------

    def _session_path(self, session_id: str) -> Path:
        if not _SESSION_ID.match(session_id) or session_id.startswith("."):
            raise CheckpointError(f"not a session id: {session_id!r}")
        return self.root / "sessions" / f"{session_id}.jsonl"

    def record(self, session_id: str, workspace: str | Path, change: dict[str, Any]) -> Change:
        """Append one change (without `n`) to the session's file, made with a header if new."""
        path = self._session_path(session_id)
        if session_id not in self._next_n:
            existing = self.load(session_id) if path.exists() else None
            if existing is None:
                header = {"format": FORMAT, "session_id": session_id, "workspace": str(workspace)}
                _append(path, header)
                self._next_n[session_id] = 0
            else:
                self._next_n[session_id] = 1 + max((c.n for c in existing.changes), default=-1)
        entry = Change(n=self._next_n[session_id], **change)
        self._next_n[session_id] += 1
        _append(path, {"change": asdict(entry), "t": time.time()})
        return entry

    def mark_undone(self, session_id: str, numbers: Iterable[int], to_step: int) -> None:
        """Say that a rewind to `to_step` undid these changes (a later rewind skips them)."""
        undone = sorted(set(numbers))
        if undone:
            line = {"undone": undone, "to_step": to_step, "t": time.time()}
            _append(self._session_path(session_id), line)

    def load(self, session_id: str) -> SessionRecord | None:
        """The session's record, or None when it recorded nothing."""
        try:
            text = _read(self._session_path(session_id)).decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        record: SessionRecord | None = None
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if not isinstance(item, dict):
                continue
            if record is None:
                record = SessionRecord(session_id, str(item.get("workspace", "")))
            elif "change" in item:
                record.changes.append(Change(**item["change"]))
            elif "undone" in item:
                record.undone.update(int(n) for n in item["undone"])
        return record

    def sessions(self) -> list[str]:
        """Ids of the sessions with a record, newest first."""
        folder = self.root / "sessions"
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        found = [
            (e.stat().st_mtime, e.name.removesuffix(".jsonl"))
            for e in entries
            if e.name.endswith(".jsonl") and not e.name.startswith(".")
        ]
        return [name for _, name in sorted(found, reverse=True)]

    # -- workspace index --------------------------------------------------------------------

    def _index_path(self, workspace: str | Path) -> Path:
        key = hashlib.sha256(os.fsencode(os.path.realpath(workspace))).hexdigest()[:20]
        return self.root / "index" / f"{key}.json"

    def load_index(self, workspace: str | Path) -> dict[str, tuple[tuple[int, ...], str | None]]:
        """The last scan saved for `workspace`: relative path -> (stat key, hash)."""
        try:
            data = json.loads(_read(self._index_path(workspace)))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {rel: (tuple(v[0]), v[1]) for rel, v in data.items() if _index_entry(v)}

    def save_index(
        self, workspace: str | Path, index: dict[str, tuple[tuple[int, ...], str | None]]
    ) -> None:
        data = {rel: [list(key), sha] for rel, (key, sha) in index.items()}
        _write_atomic(self._index_path(workspace), json.dumps(data).encode("utf-8"))


def _index_entry(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], list)


def _makedirs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def _write_atomic(path: Path, data: bytes) -> None:
    _makedirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, _NEW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _append(path: Path, item: dict[str, Any]) -> None:
    _makedirs(path.parent)
    line = (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    fd = os.open(path, _READ)
    with os.fdopen(fd, "rb") as f:
        return f.read()
