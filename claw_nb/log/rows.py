"""Journal events as table rows: one builder per event type, in `claw_nb.log.schema`'s column
order. `Batch` gathers the rows of one ingest; `claw_nb.log.ingest` writes them."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from claw_nb.log.journal import TIME_KEY, TYPE_KEY
from claw_nb.log.schema import TABLES

SESSION_COLUMNS = TABLES["sessions"].names
MESSAGE_COLUMNS = TABLES["messages"].names
LLM_CALL_COLUMNS = TABLES["llm_calls"].names
TOOL_CALL_COLUMNS = TABLES["tool_calls"].names
COMPACTION_COLUMNS = TABLES["compactions"].names
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")

# Compaction columns whose event field has another name.
_EVENT_FIELD = {"window_tokens": "window", "limit_tokens": "limit"}
_NUMERIC = {"INTEGER", "BIGINT", "DOUBLE"}


# -- values ---------------------------------------------------------------------------------------


def ts(value: Any) -> datetime | None:
    """A UTC timestamp (naive, as DuckDB's TIMESTAMP) from epoch seconds; None if not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def to_json(value: Any) -> str | None:
    """Valid JSON text (DuckDB's JSON type rejects NaN) or None."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_no_nan(value), ensure_ascii=False, default=str)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return to_json(value)


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (int, float)) else None


def text_sha(text: str) -> str:
    """The 16-hex-digit sha256 prefix the log names prompts and tool schemas by."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _tokens_per_s(record: dict[str, Any]) -> float | None:
    """Generation speed: completion tokens over the time after the first token (whole call
    when the time to first token is unknown)."""
    tokens = _num(record.get("completion_tokens"))
    latency, ttft = _num(record.get("latency_ms")), _num(record.get("ttft_ms"))
    if not tokens or latency is None:
        return None
    seconds = (latency - (ttft or 0.0)) / 1000.0
    return tokens / seconds if seconds > 0 else None


# -- row builders ---------------------------------------------------------------------------------


class Batch:
    """Rows for every table, built from journal records in order (one builder per event type)."""

    def __init__(self, existing_sessions: dict[str, dict[str, Any]]):
        self.sessions = existing_sessions
        self.touched: set[str] = set()
        self.prompts: dict[str, tuple] = {}
        self.tool_schemas: dict[str, tuple] = {}
        self.messages: dict[tuple[str, int], tuple] = {}
        self.llm_calls: list[tuple] = []
        self.tool_calls: list[tuple] = []
        self.errors: list[tuple] = []
        self.todos: list[tuple] = []
        self.compactions: list[tuple] = []
        self.hook_runs: list[tuple] = []
        self.journal_sessions: dict[tuple[str, str], float] = {}
        self.count = 0

    def _session(self, sid: str, at: datetime | None) -> dict[str, Any]:
        row = self.sessions.get(sid)
        if row is None:
            row = self.sessions[sid] = dict.fromkeys(SESSION_COLUMNS)
            row["session_id"] = sid
            row["started_at"] = at
        self.touched.add(sid)
        return row

    def add(self, file: str, r: dict[str, Any]) -> None:
        sid = r.get("session_id")
        if not isinstance(sid, str):
            return
        t = r.get(TIME_KEY)
        at = ts(t)
        if isinstance(t, (int, float)):
            key = (file, sid)
            self.journal_sessions[key] = max(self.journal_sessions.get(key, t), t)
        session = self._session(sid, at)
        self.count += 1
        builder = _BUILDERS.get(r[TYPE_KEY])
        # ToolCallStarted has no table of its own (its ToolCallFinished carries everything);
        # unknown types come from newer versions: counted, not stored.
        if builder is not None:
            builder(self, session, r, at)

    def session_started(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        started = ts(r.get("started_at")) or at
        if session["started_at"] is None or (started and started < session["started_at"]):
            session["started_at"] = started
        if session["task"] is None:
            session["task"] = _text(r.get("task"))
        for column in ("model", "workspace", "system_prompt_sha", "system_prompt_name"):
            session[column] = _text(r.get(column))
        if r.get("resumed_from"):
            session["resumed_from"] = _text(r.get("resumed_from"))
        for column in ("parent_session_id", "parent_call_id", "agent_name"):
            if r.get(column):
                session[column] = _text(r.get(column))
        session["pid"] = _num(r.get("_pid"))
        session["host"] = _text(r.get("_host"))
        session["ended_at"] = session["stop_reason"] = None  # running (again)
        prompt = r.get("system_prompt")
        sha = _text(r.get("system_prompt_sha"))
        if isinstance(prompt, str) and sha and sha not in self.prompts:
            self.prompts[sha] = (sha, _text(r.get("system_prompt_name")), prompt, started)
        tools = r.get("tool_schemas")
        tools_sha = _text(r.get("tool_schemas_sha"))
        if tools_sha:
            session["tool_schemas_sha"] = tools_sha
            if isinstance(tools, list) and tools_sha not in self.tool_schemas:
                self.tool_schemas[tools_sha] = (tools_sha, to_json(tools), started)

    def message_added(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        seq = _num(r.get("seq"))
        message = r.get("message")
        if seq is None or not isinstance(message, dict):
            return
        role = _text(message.get("role"))
        content = message.get("content")
        prompt_sha = None
        if role == "system" and isinstance(content, str):
            known = self.prompts.get(session["system_prompt_sha"])
            prompt_sha = (
                known[0] if known is not None and known[2] == content else text_sha(content)
            )
            if prompt_sha not in self.prompts:
                name = (
                    session["system_prompt_name"]
                    if prompt_sha == session["system_prompt_sha"]
                    else "system message"
                )
                self.prompts[prompt_sha] = (prompt_sha, name, content, at)
            content = None
        is_json = content is not None and not isinstance(content, str)
        extra = {k: v for k, v in message.items() if k not in MESSAGE_KEYS}
        sid = session["session_id"]
        self.messages[(sid, int(seq))] = (  # the order of TABLES["messages"]
            sid,
            int(seq),
            role,
            _text(content),
            to_json(message.get("tool_calls")) if "tool_calls" in message else None,
            _text(message.get("tool_call_id")),
            _text(message.get("name")),
            at,
            prompt_sha,
            is_json,
            to_json(extra) if extra else None,
        )

    def model_call_finished(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        step = _num(r.get("step"))
        if step is not None:
            session["steps"] = max(session["steps"] or 0, int(step))
        self.llm_calls.append(
            (
                session["session_id"],
                step,
                _text(r.get("model")),
                _num(r.get("prompt_tokens")),
                _num(r.get("completion_tokens")),
                _num(r.get("cached_tokens")),
                _num(r.get("latency_ms")),
                _num(r.get("ttft_ms")),
                _tokens_per_s(r),
                _text(r.get("finish_reason")),
                _text(r.get("usage_source")),
                _num(r.get("attempts")),
                bool(r.get("streamed")),
                _num(r.get("message_count")),
                _num(r.get("cost_usd")),
                to_json(r.get("params")),
                to_json(r.get("parts")),
                _text(r.get("error")),
                at,
                session["system_prompt_sha"],
                session["system_prompt_name"],
                _text(r.get("tool_schemas_sha")) or session.get("tool_schemas_sha"),
                _num(r.get("prefill_tokens")),
                _num(r.get("prefill_s")),
                _num(r.get("decode_s")),
                bool(r.get("cache_break")) if "cache_break" in r else None,
                _num(r.get("cache_break_index")),
                _text(r.get("cache_break_role")),
                _text(r.get("cache_break_reason")),
            )
        )
        tools, tools_sha = r.get("tool_schemas"), _text(r.get("tool_schemas_sha"))
        if tools_sha and isinstance(tools, list) and tools_sha not in self.tool_schemas:
            self.tool_schemas[tools_sha] = (tools_sha, to_json(tools), at)

    def tool_call_finished(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.tool_calls.append(
            (
                session["session_id"],
                _num(r.get("step")),
                _text(r.get("call_id")),
                _text(r.get("tool")),
                to_json(r.get("arguments")),
                _text(r.get("raw_arguments")),
                bool(r.get("ok")),
                _text(r.get("error_kind")),
                _text(r.get("error")),
                _text(r.get("result")),
                _num(r.get("duration_ms")),
                _text(r.get("decision")),
                _num(r.get("result_chars")),
                _num(r.get("result_chars_sent")),
                at,
                _text(r.get("dialect")),
                _text(r.get("rule")),
            )
        )

    def error_occurred(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.errors.append(
            (session["session_id"], _text(r.get("kind")), _text(r.get("message")), at)
        )

    def todos_updated(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        self.todos.append((session["session_id"], to_json(r.get("todos")), at))

    def final_answer(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        session["final_answer"] = _text(r.get("text"))

    def context_compacted(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        table = TABLES["compactions"]
        values = []
        for column in table.columns[1:-1]:
            value = r.get(_EVENT_FIELD.get(column.name, column.name))
            values.append(_num(value) if column.type in _NUMERIC else _text(value))
        self.compactions.append((session["session_id"], *values, ts(r.get("at")) or at))

    def hook_ran(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        table = TABLES["hook_runs"]
        values = []
        for column in table.columns[1:-1]:
            value = r.get(column.name)
            if column.type == "BOOLEAN":
                values.append(bool(value))
            else:
                values.append(_num(value) if column.type in _NUMERIC else _text(value))
        self.hook_runs.append((session["session_id"], *values, ts(r.get("at")) or at))

    def session_ended(self, session: dict[str, Any], r: dict[str, Any], at: Any) -> None:
        session["ended_at"] = ts(r.get("ended_at")) or at
        session["stop_reason"] = _text(r.get("stop_reason")) or "unknown"
        steps = _num(r.get("steps"))
        if steps is not None:
            session["steps"] = int(steps)


_BUILDERS: dict[str, Callable[[Batch, dict, dict, Any], None]] = {
    "SessionStarted": Batch.session_started,
    "MessageAdded": Batch.message_added,
    "ModelCallFinished": Batch.model_call_finished,
    "ToolCallFinished": Batch.tool_call_finished,
    "ErrorOccurred": Batch.error_occurred,
    "TodosUpdated": Batch.todos_updated,
    "FinalAnswer": Batch.final_answer,
    "ContextCompacted": Batch.context_compacted,
    "HookRan": Batch.hook_ran,
    "SessionEnded": Batch.session_ended,
}
