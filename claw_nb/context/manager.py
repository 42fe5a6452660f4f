"""`ContextManager`: keeps every request inside the model's window with as few tokens as possible.

The agent calls `prepare(messages, tools)` before each model call. While the request fits under
the threshold (`compact_at` of the window, and never into the tokens reserved for the reply)
nothing changes, so servers' prompt caches keep working. Past it, in order:

1. prune: stale tool results become stubs and old bulky outputs are cut to head and tail, their
   full text kept behind a handle (no model call);
2. summary, when pruning did not bring the request well under the threshold: the turns older than
   the most recent ones are replaced by a structured summary the model writes;
3. squeeze, when the recent turns alone are still too big: their largest outputs are cut.

`agent.messages` is rewritten in place (messages are replaced, never mutated); a tool call and its
results are never separated. Each compaction emits a `ContextCompacted` event.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb import events as ev
from claw_nb.claw_dir import OUTPUTS_DIR
from claw_nb.context.file_ledger import FileLedger
from claw_nb.context.folding import RECENT_SHARE, Fold, head_len
from claw_nb.context.outputs import OutputStore, clip_with_handle, make_read_output_tool
from claw_nb.context.prune import describe_call, prune, squeeze
from claw_nb.context.request_size import estimate_request
from claw_nb.context.tokens import (
    CHARS_PER_TOKEN,
    MAX_RATIO,
    PRIMING,
    TokenCounter,
    default_reserve,
    model_window,
    parse_context_error,
    scaled,
)
from claw_nb.outcomes import Outcomes, ToolOutcome
from claw_nb.records import record
from claw_nb.textclip import clip_middle
from claw_nb.tools.base import ToolRegistry

PRUNE_ENOUGH = 0.7  # pruning alone is enough when it brings a request under this share of the limit
MIN_FOLD_SHARE = (
    0.15  # ...or when a summary would fold less than this share (then it is not worth a call)
)
RESULT_SHARE = 0.25  # one tool result may use this share of the limit when it arrives
SHORTEN_CHARS = 2000  # old tool results longer than this are cut...
KEEP_CHARS = 900  # ...to about this
MAX_CONTEXT_RETRIES = 2  # compactions after a "context length exceeded" before giving up


@record(frozen=True)
class Conversation:
    """What the context manager knows of the conversation it serves, said explicitly: its
    session id, where its events go, and how to read its step count and todo list now."""

    session_id: str
    emit: Callable[[ev.Event], None]
    steps: Callable[[], int] = lambda: 0
    todos: Callable[[], list[Any]] = list
    # called before older turns are summarised, with the trigger ("manual" or "auto") and the
    # focus: the agent's PreCompact hooks
    before_summary: Callable[[str, str | None], None] | None = None


class ContextManager:
    """Token budgets, tool-output handles and compaction for one conversation.

    Without a `Conversation` no events are emitted and outputs are not saved to disk.
    """

    def __init__(
        self,
        config: Any,
        model: Any,
        conversation: Conversation | None = None,
        *,
        counter: TokenCounter | None = None,
        outputs: OutputStore | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.conversation = conversation
        self.enabled = bool(getattr(config, "context_management", True))
        # tools described in the prompt (tools_in_prompt): requests are counted as sent
        self.prompted = None
        if getattr(config, "tools_in_prompt", False):
            from claw_nb.toolcalls.in_prompt import PromptedTools

            self.prompted = PromptedTools(getattr(config, "tool_prompt_dialect", "hermes"))
        self.counter = counter or TokenCounter(
            config.model, getattr(config, "tokenizer", None), chat_template=bool(self.prompted)
        )
        self.outputs = (
            outputs
            if outputs is not None
            else OutputStore(self._outputs_dir, root=getattr(config, "workspace", None))
        )
        self.ratio = 1.0  # server-reported / counted prompt tokens (only ever >= 1)
        self.learned_window: int | None = None  # from a server's context-length error
        self.last_tokens = 0
        self.last_parts: dict[str, int] = {}
        self.files = FileLedger(str(getattr(config, "workspace", "") or ""))
        self.outcomes: Outcomes = {}  # tool_call_id -> what the call came to (pruning, ledger)
        self.compactions: list[ev.ContextCompacted] = []
        self.prepare_seconds = 0.0  # time in prepare(), summary calls included
        self.summary_seconds = 0.0  # time in summary calls
        self._window: tuple[int, str] | None = None
        self._last_raw = 0
        self._warned = False

    # -- budgets ----------------------------------------------------------------------------

    @property
    def window(self) -> int:
        if self._window is None:
            self._window = model_window(self.config)
        size = self._window[0]
        return min(size, self.learned_window) if self.learned_window else size

    @property
    def window_source(self) -> str:
        _ = self.window
        return "server error message" if self.learned_window else self._window[1]

    @property
    def reserve(self) -> int:
        setting = getattr(self.config, "reserve_tokens", None)
        return min(int(setting), self.window // 2) if setting else default_reserve(self.window)

    @property
    def limit(self) -> int:
        """Requests above this many tokens get compacted."""
        share = float(getattr(self.config, "compact_at", 0.8))
        return max(256, min(int(self.window * share), self.window - self.reserve))

    def result_chars(self) -> int:
        """Characters one new tool result may take before it is cut (with a handle)."""
        budget = int(self.limit * RESULT_SHARE * CHARS_PER_TOKEN)
        return max(2000, min(self.config.max_tool_result_chars, budget))

    def summary_tokens(self) -> int:
        return max(256, min(2048, self.window // 16))

    def measure(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, lazy: bool = False
    ) -> int:
        """Tokens the request would take (calibrated by the server's usage reports).

        `lazy`: while the tokenizer is not loaded and even a generous bound on the request stays
        under the threshold, estimate instead of loading it (~0.4 s and ~45 MiB a process)."""
        if (
            lazy
            and not self.counter.loaded
            and not self.counter.local_vocabulary
            and scaled(self.counter.bound(messages, tools), self.ratio) <= self.limit
        ):
            return self._estimate(messages, tools)
        if self.prompted is not None:  # as sent: the tools are part of the system message
            raw = self.counter.request(self.prompted.messages(messages, tools), None)
            tool_tokens = self.counter.text(self.prompted.block(tools))
        else:
            raw = self.counter.request(messages, tools)
            tool_tokens = self.counter.tools(tools)
        self._last_raw = raw
        tokens = scaled(raw, self.ratio)
        system = sum(self.counter.message(m) for m in messages if m.get("role") == "system")
        results = sum(self.counter.message(m) for m in messages if m.get("role") == "tool")
        self.last_tokens = tokens
        self.last_parts = {  # the request split by part (counted, before calibration)
            "system": system,
            "tools": tool_tokens,
            "history": raw - system - tool_tokens - results - PRIMING,
            "tool_results": results,
            "estimate": tokens,
            "window": self.window,
        }
        return tokens

    def _estimate(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        self._last_raw = 0  # an estimate calibrates nothing
        tokens, self.last_parts = estimate_request(
            self.counter, messages, tools, ratio=self.ratio, window=self.window
        )
        self.last_tokens = tokens
        return tokens

    def status(self) -> dict[str, Any]:
        """Figures for a status line: window, threshold, last request size, compactions."""
        return {
            "enabled": self.enabled,
            "window": self.window,
            "window_source": self.window_source,
            "reserve": self.reserve,
            "limit": self.limit,
            "last_tokens": self.last_tokens,
            "ratio": round(self.ratio, 3),
            "tokenizer": self.counter.description or "(not loaded yet)",
            "compactions": len(self.compactions),
            "saved_outputs": len(self.outputs),
        }

    # -- the agent's hooks ------------------------------------------------------------------

    def prepare(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None):
        """Compact `messages` in place when the request would pass the threshold; returns it."""
        if not self.enabled:
            return messages
        started = time.perf_counter()
        try:
            if self.measure(messages, tools, lazy=True) > self.limit:
                self._reduce(messages, tools, "threshold")
        except Exception as exc:  # noqa: BLE001 - a fault here must not stop the agent
            self._report(exc)
        self.prepare_seconds += time.perf_counter() - started
        return messages

    def recover(self, messages, tools, error: Exception, attempt: int = 0) -> bool:
        """After a "context length exceeded": learn from the message, compact harder.

        True when the request shrank (worth a retry)."""
        if not self.enabled:
            return False
        window, prompt = parse_context_error(str(error))
        if window and window < self.window:
            self.learned_window = window
        # With the server's own tokenizer our count stands: llama-cpp-python's function-calling
        # handler reports its internal follow-up prompt here (4,096 "in the messages" for a
        # request of 1,849), and a ratio learnt from that would compact every later request.
        exact = self.counter.exact
        if prompt and self._last_raw and prompt > self._last_raw * self.ratio and not exact:
            self.ratio = min(MAX_RATIO, prompt / self._last_raw)
        budget = int(self.limit * RECENT_SHARE * 0.5**attempt)
        try:
            event = self._reduce(messages, tools, "context_error", force=True, recent_budget=budget)
        except Exception as exc:  # noqa: BLE001 - report; the agent then stops with the error
            self._report(exc)
            return False
        return event is not None and event.tokens_after < event.tokens_before

    def compact(self, messages, tools=None, focus: str | None = None, reason: str = "manual"):
        """Summarise the older turns now (`%claw compact [focus]`); the event, or None when
        there was nothing to compact."""
        return self._reduce(messages, tools, reason, focus=focus, force=True)

    def observe(self, prompt_tokens: int, usage_source: str) -> None:
        """Calibrate counts against the prompt tokens a server reported for the last request."""
        if usage_source != "server" or not prompt_tokens or not self._last_raw:
            return
        if self.counter.exact:  # the server's tokenizer: the remaining gap is the template's
            self.counter.learn_template(self._last_raw, prompt_tokens)
            return
        ratio = prompt_tokens / self._last_raw
        if ratio > self.ratio:
            self.ratio = min(MAX_RATIO, ratio)
        else:  # drift down slowly: a cache-discounted count must not make us bold
            self.ratio = max(1.0, 0.8 * self.ratio + 0.2 * ratio)

    def clip_tool_result(self, name: str, arguments: dict | None, result: str) -> str:
        """The text of a new tool result as the model will see it."""
        if not self.enabled:
            return clip_middle(result, self.config.max_tool_result_chars)
        limit = self.result_chars()
        if len(result) <= limit:
            return result
        if name == "read_output":
            return clip_middle(result, limit)
        what = describe_call(name, arguments)
        return clip_with_handle(result, limit, self.outputs.put(result, origin=what), what)

    def extend_tools(self, registry: ToolRegistry) -> ToolRegistry:
        """`registry` plus `read_output` (a new registry), from the session's first request on.

        Not only once some output has a handle: a tool joining mid-session changes the start of
        every later request (the schemas come first), so a server's prompt cache would read the
        whole conversation again (docs/performance.md, "Prefill")."""
        if not self.enabled or "read_output" in registry:
            return registry
        self.outputs.page_chars = max(2000, self.result_chars() - 200)
        return ToolRegistry([*registry, make_read_output_tool(self.outputs)])

    def record_outcome(self, call_id: str, outcome: ToolOutcome) -> None:
        """What a tool call came to, as data: pruning and the file ledger decide by it."""
        self.outcomes[call_id] = outcome

    # -- compaction -------------------------------------------------------------------------

    def _reduce(self, messages, tools, reason, *, focus=None, force=False, recent_budget=None):
        started = time.perf_counter()
        before, count_before = self.measure(messages, tools), len(messages)
        fold = self._fold()
        head = head_len(messages)
        recent = fold.recent_start(messages, head, recent_budget)
        report = prune(
            messages,
            recent,
            self.outputs,
            shorten_chars=SHORTEN_CHARS,
            keep_chars=KEEP_CHARS,
            outcomes=self.outcomes,
            workspace=str(getattr(self.config, "workspace", "") or ""),
        )
        tokens = self.measure(messages, tools)
        summary = None
        if (
            force
            or tokens > self.limit
            or (
                tokens > self.limit * PRUNE_ENOUGH
                and fold.foldable(messages, head, recent_budget) > self.limit * MIN_FOLD_SHARE
            )
        ):
            trigger = "manual" if reason == "manual" else "auto"
            summary = fold.summarise(messages, head, focus, recent_budget, trigger)
            if summary:
                self.summary_seconds += summary.pop("seconds")
            tokens = self.measure(messages, tools)
        squeezed = (
            squeeze(messages, lambda: self.measure(messages, tools) <= self.limit, self.outputs)
            if tokens > self.limit
            else 0
        )
        if not (report.changed or summary or squeezed):
            return None
        tokens = self.measure(messages, tools)
        dropped = report.lines()
        if summary:
            dropped.append(
                f"summarised {summary['folded']} older messages "
                f"({summary['calls']} summary call(s))"
            )
            if summary.get("fallback"):
                dropped.append(f"summary call failed, used a plain digest: {summary['fallback']}")
        if squeezed:
            dropped.append(f"recent outputs cut to fit the window: {squeezed}")
        event = ev.ContextCompacted(
            session_id=self.conversation.session_id if self.conversation else "",
            reason=reason,
            method="summary" if summary else "prune",
            tokens_before=before,
            tokens_after=tokens,
            messages_before=count_before,
            messages_after=len(messages),
            dropped="\n".join(dropped),
            summary_tokens=self.counter.text(summary["text"]) if summary else 0,
            summary=summary["text"] if summary else "",
            focus=focus,
            window=self.window,
            limit=self.limit,
            step=self.conversation.steps() if self.conversation else 0,
            summary_calls=summary["calls"] if summary else 0,
            summary_prompt_tokens=summary["prompt_tokens"] if summary else 0,
            summary_completion_tokens=summary["completion_tokens"] if summary else 0,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self.compactions.append(event)
        if self.conversation is not None:
            self.conversation.emit(event)
        return event

    def _fold(self) -> Fold:
        """The budgets and parts a summary works with, as of now."""
        return Fold(
            model=self.model,
            counter=self.counter,
            outputs=self.outputs,
            files=self.files,
            outcomes=self.outcomes,
            todos=list(self.conversation.todos()) if self.conversation else [],
            limit=self.limit,
            window=self.window,
            reserve=self.reserve,
            ratio=self.ratio,
            summary_tokens=self.summary_tokens(),
            keep_turns=max(1, int(getattr(self.config, "keep_recent_turns", 4))),
            before_summary=self.conversation.before_summary if self.conversation else None,
        )

    # -- bookkeeping ------------------------------------------------------------------------

    def _outputs_dir(self) -> Path | None:
        workspace = getattr(self.config, "workspace", None)
        if workspace is None or self.conversation is None:
            return None
        return Path(workspace) / OUTPUTS_DIR / self.conversation.session_id

    def _report(self, exc: Exception) -> None:
        message = f"context management failed ({type(exc).__name__}: {exc}); request sent as is"
        if self.conversation is not None:
            self.conversation.emit(
                ev.ErrorOccurred(self.conversation.session_id, kind="context", message=message)
            )
        if not self._warned:
            self._warned = True
            warnings.warn(f"claw_nb: {message}", stacklevel=3)
