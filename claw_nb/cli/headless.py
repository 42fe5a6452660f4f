"""Machine-readable output for `claw-nb run --output-format json|stream-json` (docs/headless.md).

A listener like the text printer: the agent's events become JSON objects, one a line. A script
or CI job reads them instead of scraping the terminal text, so stdout carries nothing else:
`json_stdout` points every other writer (print, a library's log line, a child process) at
stderr for the duration of the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from claw_nb import __version__
from claw_nb import events as ev
from claw_nb.events import handles
from claw_nb.outcomes import StopReason

# Characters JSON may carry raw that still act on a terminal or split a "line" for a reader
# (C1 controls, NEL, U+2028/9, bidi and invisible marks) and lone surrogates, which UTF-8
# cannot encode. Outside strings JSON has none of them, so escaping them keeps it valid.
_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_STOP_REASONS = frozenset(reason.value for reason in StopReason)  # an error of these ends the run


def json_line(record: dict[str, Any]) -> str:
    """One record as a line of JSON: readable Unicode, but nothing a terminal would obey."""
    text = json.dumps(record, ensure_ascii=False, default=str)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


class JsonEventWriter(ev.EventDispatch):
    """Writes the run as JSON: every event as it happens (`stream=True`, stream-json), or only
    the closing `result` object (`stream=False`, json). Each line is flushed as it is written.

    A subagent's events go to a writer of its own (`parent_tool_use_id`: the `task` call that
    started it), whose records carry that id, as Claude Code's do; its start and end are
    `system` records (`subagent_init`, `subagent_result`), never a second `result`. The
    closing result's usage counts the children's tokens too: they are the run's cost.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        stream: bool,
        permission_mode: str | None = None,
        sandboxed: bool | None = None,
        parent_tool_use_id: str | None = None,
    ) -> None:
        self.out = out
        self.parent_tool_use_id = parent_tool_use_id
        self.stream = stream
        self.permission_mode = permission_mode
        self.sandboxed = sandboxed
        self._started_at: float | None = None
        self._step = 0
        self._final_answer: str | None = None
        self._error: str | None = None
        self._tool_calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._tree = ev.SessionTree()
        self._children: dict[str, JsonEventWriter] = {}
        self._ended = False  # the result is written: nothing follows it (SessionEnd hooks)

    def __call__(self, event: ev.Event) -> None:
        child = self._tree.child(event)
        if child is not None:
            self._child_event(child, event)
            return
        handler = self.handler_for(event)
        if handler is not None:
            handler(event)

    def _child_event(self, child: ev.ChildSession, event: ev.Event) -> None:
        if isinstance(event, ev.ModelCallFinished) and event.error is None:
            self._prompt_tokens += event.prompt_tokens
            self._completion_tokens += event.completion_tokens
        elif isinstance(event, ev.ContextCompacted):
            self._prompt_tokens += event.summary_prompt_tokens
            self._completion_tokens += event.summary_completion_tokens
        writer = self._children.get(child.top)
        if writer is None:
            writer = JsonEventWriter(
                self.out,
                stream=self.stream,
                permission_mode=self.permission_mode,
                sandboxed=self.sandboxed,
                parent_tool_use_id=child.parent_call_id,
            )
            self._children[child.top] = writer
        writer(event)
        if isinstance(event, ev.SessionEnded) and child.depth == 1:
            del self._children[child.top]

    def _write(self, record: dict[str, Any], *, final: bool = False) -> None:
        if self.parent_tool_use_id is not None:  # a subagent's: never the run's result
            record = {**record, "parent_tool_use_id": self.parent_tool_use_id}
            final = False
        if (self.stream or final) and not self._ended:
            self._ended = final
            self.out.write(json_line(record))
            self.out.flush()

    @handles(ev.SessionStarted)
    def _on_SessionStarted(self, e: ev.SessionStarted) -> None:
        self._started_at = e.started_at
        tools = [spec.get("function", {}).get("name", "") for spec in e.tool_schemas]
        child: dict[str, Any] = {}
        if self.parent_tool_use_id is not None:
            child = {"parent_session_id": e.parent_session_id, "agent": e.agent_name}
        self._write(
            {
                "type": "system",
                "subtype": "subagent_init" if child else "init",
                **child,
                "session_id": e.session_id,
                "model": e.model,
                "workspace": e.workspace,
                "tools": tools,
                "permission_mode": self.permission_mode,
                "sandboxed": self.sandboxed,
                "resumed_from": e.resumed_from,
                "claw_nb_version": __version__,
            }
        )

    @handles(ev.ModelCallFinished)
    def _on_ModelCallFinished(self, e: ev.ModelCallFinished) -> None:
        if e.error is None:  # a failed call's prompt size is our estimate, not the server's
            self._step = e.step
            self._prompt_tokens += e.prompt_tokens
            self._completion_tokens += e.completion_tokens

    @handles(ev.MessageAdded)
    def _on_MessageAdded(self, e: ev.MessageAdded) -> None:
        message = e.message
        if message.get("role") == "assistant" and message.get("content"):
            self._write(
                {
                    "type": "assistant",
                    "session_id": e.session_id,
                    "step": self._step,
                    "text": message["content"],
                }
            )

    @handles(ev.ToolCallStarted)
    def _on_ToolCallStarted(self, e: ev.ToolCallStarted) -> None:
        self._tool_calls += 1
        record: dict[str, Any] = {
            "type": "tool_use",
            "session_id": e.session_id,
            "step": e.step,
            "id": e.call_id,
            "name": e.tool,
            "input": e.arguments,
        }
        if e.arguments is None:  # arguments that were not JSON: what the model sent
            record["raw_input"] = e.raw_arguments
        self._write(record)

    @handles(ev.ToolCallFinished)
    def _on_ToolCallFinished(self, e: ev.ToolCallFinished) -> None:
        self._write(
            {
                "type": "tool_result",
                "session_id": e.session_id,
                "step": e.step,
                "tool_use_id": e.call_id,
                "name": e.tool,
                "ok": e.ok,
                "error_kind": e.error_kind,
                "content": e.result,
                "truncated": e.result_chars_sent < e.result_chars,
                "decision": e.decision,
                "permission_rule": e.rule,
                "duration_ms": round(e.duration_ms),
            }
        )

    @handles(ev.TodosUpdated)
    def _on_TodosUpdated(self, e: ev.TodosUpdated) -> None:
        self._write({"type": "todos", "session_id": e.session_id, "todos": list(e.todos)})

    @handles(ev.ContextCompacted)
    def _on_ContextCompacted(self, e: ev.ContextCompacted) -> None:
        self._prompt_tokens += e.summary_prompt_tokens
        self._completion_tokens += e.summary_completion_tokens
        self._write(
            {
                "type": "system",
                "subtype": "compaction",
                "session_id": e.session_id,
                "step": e.step,
                "reason": e.reason,
                "method": e.method,
                "tokens_before": e.tokens_before,
                "tokens_after": e.tokens_after,
                "messages_before": e.messages_before,
                "messages_after": e.messages_after,
                "window": e.window,
            }
        )

    @handles(ev.HookRan)
    def _on_HookRan(self, e: ev.HookRan) -> None:
        self._write(
            {
                "type": "system",
                "subtype": "hook",
                "session_id": e.session_id,
                "step": e.step,
                "event": e.event,
                "command": e.command,
                "tool_use_id": e.call_id,
                "exit_code": e.exit_code,
                "timed_out": e.timed_out,
                "decision": e.decision,
                "reason": e.reason,
                "message": e.message,
                "duration_ms": round(e.duration_ms),
            }
        )

    @handles(ev.ErrorOccurred)
    def _on_ErrorOccurred(self, e: ev.ErrorOccurred) -> None:
        fatal = e.kind in _STOP_REASONS
        if fatal:
            self._error = e.message
        self._write(
            {
                "type": "error",
                "session_id": e.session_id,
                "kind": str(e.kind),
                "message": e.message,
                "fatal": fatal,
            }
        )

    @handles(ev.FinalAnswer)
    def _on_FinalAnswer(self, e: ev.FinalAnswer) -> None:
        self._final_answer = e.text

    @handles(ev.SessionEnded)
    def _on_SessionEnded(self, e: ev.SessionEnded) -> None:
        started = e.ended_at if self._started_at is None else self._started_at
        nested = self.parent_tool_use_id is not None
        self._write(
            {
                "type": "system" if nested else "result",
                **({"subtype": "subagent_result"} if nested else {}),
                "session_id": e.session_id,
                "stop_reason": str(e.stop_reason),
                "ok": e.stop_reason == StopReason.COMPLETED,
                "final_answer": self._final_answer,
                "error": e.error or self._error,
                "steps": e.steps,
                "tool_calls": self._tool_calls,
                "usage": {
                    "prompt_tokens": self._prompt_tokens,
                    "completion_tokens": self._completion_tokens,
                },
                "duration_ms": max(0, round((e.ended_at - started) * 1000)),
            },
            final=True,
        )


@contextlib.contextmanager
def json_stdout() -> Iterator[TextIO]:
    """A stream on the real stdout, while everything else that writes to stdout goes to stderr.

    Redirected at the file-descriptor level when stdout has one, so a C library or a child
    process cannot slip a line in either; restored on exit.
    """
    sys.stdout.flush()
    try:
        fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced stream (a test's capture)
        real = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            yield real
        return
    saved = os.dup(fd)
    out = os.fdopen(os.dup(saved), "w", encoding="utf-8", newline="\n")
    stdout = sys.stdout
    os.dup2(err_fd, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield out
    finally:
        out.close()
        stdout.flush()  # whatever was buffered meanwhile belongs to stderr
        os.dup2(saved, fd)
        os.close(saved)
