"""The summary that replaces older turns: the request that asks for it, and the message it becomes.

After a summary the conversation is `[system prompt, head, recent turns...]`. The head is one
user message: the original task verbatim, then the summary, the files touched (from the tool
log, not from the model), the saved outputs, and the user's latest request when it was folded.
One user message, so chat templates that insist on alternating roles still accept it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from claw_nb.context.outputs import HANDLE_RE, OutputStore
from claw_nb.context.prune import describe_call, parse_arguments
from claw_nb.context.tokens import CHARS_PER_TOKEN
from claw_nb.records import record
from claw_nb.textclip import clip_middle

SUMMARY_MARKER = "[Summary of the earlier conversation"
SUMMARY_END = "[End of summary. The most recent steps follow verbatim.]"
LATEST_REQUEST = "The user's latest request (verbatim):"

SUMMARY_SYSTEM = (
    "You write the working memory of a coding agent. Its context window is full: the older "
    "part of its conversation is about to be deleted and replaced by your summary, and the "
    "agent will carry on from the summary alone. Be specific and factual. Keep exact file "
    "paths, function names, commands, error messages, numbers and values. Never invent "
    "anything. Do not call tools and do not address the user: answer with the summary only."
)

SECTIONS = (
    ("Task", "the user's goal and every requirement or constraint they stated"),
    ("Decisions", "what was decided and why; approaches tried and rejected"),
    ("Files touched", "one line per file: path - its state (created, edited how, only read)"),
    ("Open problems", "errors, failing tests and unanswered questions, with the exact messages"),
    ("Todo list", "what remains to be done, in order; mark finished items [x]"),
    ("Key facts", "values, names, numbers and outputs the agent will need later, verbatim"),
)


_HEAD_PARTS = (
    "\nFiles touched so far (from the tool log):",
    "\nSaved full outputs (",
    "\n" + LATEST_REQUEST,
)


def split_head(content: str) -> tuple[str, str, str | None]:
    """(original task, previous summary, latest request or None) from a head message."""
    if SUMMARY_MARKER not in content:
        return content, "", None
    task, _, rest = content.partition(SUMMARY_MARKER)
    body = rest.split("\n", 1)[1] if "\n" in rest else ""
    body = "\n" + body.split(SUMMARY_END, 1)[0]
    latest = None
    if "\n" + LATEST_REQUEST in body:
        body, _, latest = body.partition("\n" + LATEST_REQUEST)
        latest = latest.strip() or None
    cut = min((i for i in (body.find(p) for p in _HEAD_PARTS) if i >= 0), default=len(body))
    return task.rstrip(), body[:cut].strip(), latest


def render_message(
    message: dict[str, Any], calls: dict, store: OutputStore, result_chars: int
) -> str:
    """One message as transcript text for the summariser."""
    role = message.get("role")
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = str(content)
    if role == "tool":
        name, args = calls.get(message.get("tool_call_id"), (message.get("name", "tool"), None))
        match = HANDLE_RE.search(content)
        full = store.get(match.group(1)) if match else None
        text = clip_middle(full if full is not None else content, result_chars)
        return f"RESULT of {describe_call(name, args)}:\n{text}"
    if role == "assistant":
        lines = [f"ASSISTANT: {clip_middle(content, result_chars)}"] if content.strip() else []
        for spec in message.get("tool_calls") or []:
            function = spec.get("function") or {}
            args = parse_arguments(function.get("arguments")) or {}
            shown = ", ".join(
                f"{k}={clip_middle(v if isinstance(v, str) else repr(v), 300)!r}"
                for k, v in args.items()
            )
            lines.append(f"ASSISTANT calls {function.get('name', '?')}({shown})")
        return "\n".join(lines) or "ASSISTANT: (empty)"
    return f"{str(role).upper()}: {clip_middle(content, result_chars * 2)}"


def summary_request(
    task: str,
    previous: str,
    transcript: str,
    todos: list[dict[str, Any]],
    files: str,
    focus: str | None,
    words: int,
) -> list[dict[str, Any]]:
    """The messages of the summary call (sent without tools)."""
    todo_text = (
        "\n".join(
            f"- [{'x' if t.get('status') == 'completed' else ' '}] {t.get('content', '')}"
            + (" (in progress)" if t.get("status") == "in_progress" else "")
            for t in todos
        )
        or "(the agent has no todo list)"
    )
    sections = "\n".join(f"## {title}\n({hint})" for title, hint in SECTIONS)
    focus_text = (
        f"\nThe user asked the summary to focus on: {focus}. Keep everything about it in "
        "detail; be brief about the rest.\n"
        if focus
        else ""
    )
    user = (
        f"# The task\n{task or '(not recorded)'}\n\n"
        f"# Summary of still earlier work\n{previous or '(none: this is the first summary)'}\n\n"
        f"# Conversation to summarise (oldest first)\n{transcript}\n\n"
        f"# The agent's current todo list\n{todo_text}\n\n"
        f"# Files touched so far (from the tool log)\n{files or '(none)'}\n\n"
        "# What to write\n"
        "Write the new summary in Markdown with exactly these sections:\n\n"
        f"{sections}\n{focus_text}\n"
        "Fold the summary of still earlier work in: keep what still holds, drop what is "
        f"obsolete. Write at most {words} words."
    )
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def clean_summary(text: str) -> str:
    text = _THINK_RE.sub("", text or "")
    if "</think>" in text:  # a reasoning block whose opening tag the template ate
        text = text.split("</think>", 1)[1]
    return text.strip()


def mechanical_summary(pieces: list[str], previous: str, chars: int) -> str:
    """A digest without a model, used when the summary call fails: first lines of each step."""
    lines = [previous] if previous else []
    for piece in pieces:
        first = piece.strip().splitlines()[:2]
        lines.append(" / ".join(line[:160] for line in first))
    return clip_middle("\n".join(lines), chars)


def build_head(
    task: str,
    summary: str,
    *,
    folded_steps: int,
    files: str,
    outputs: str,
    latest_request: str | None,
) -> str:
    parts = [
        task.rstrip(),
        "",
        f"{SUMMARY_MARKER}, written to save context: {folded_steps} older messages were replaced]",
        summary.strip(),
    ]
    if files:
        parts += ["", "Files touched so far (from the tool log):", files]
    if outputs:
        parts += ["", "Saved full outputs (page through them with read_output):", outputs]
    if latest_request:
        parts += ["", LATEST_REQUEST, latest_request.strip()]
    parts += ["", SUMMARY_END]
    return "\n".join(parts)


def chunk_pieces(pieces: list[str], budget: int, count: Callable[[str], int]) -> list[list[str]]:
    """Transcript pieces grouped so that each summary request carries at most `budget` tokens
    (a piece bigger than the budget alone is cut in the middle)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for piece in pieces:
        size = count(piece) + 2
        if size > budget:
            piece = clip_middle(piece, budget * CHARS_PER_TOKEN)
            size = budget
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(piece)
        used += size
    return chunks


@record(frozen=True)
class SummaryFrame:
    """Everything a summary request holds besides the transcript and the running summary."""

    task: str
    previous: str  # the summary already in the head, folded into the new one
    focus: str | None
    out_tokens: int
    todos: list[Any]
    files: str

    def request(self, previous: str, transcript: str) -> list[dict[str, Any]]:
        words = max(120, self.out_tokens * 2 // 3)
        return summary_request(
            self.task, previous, transcript, self.todos, self.files, self.focus, words
        )


def write_summary(
    model: Any, frame: SummaryFrame, pieces: list[str], budget: int, count: Callable[[str], int]
) -> dict[str, Any]:
    """Fold `pieces` into a summary, in as many model calls as the window needs.

    A failed or empty call falls back to a plain digest, so compaction never fails for want of
    a summary; `fallback` says why. `seconds` is the time spent in model calls."""
    stats: dict[str, Any] = {
        "calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "fallback": None,
        "seconds": 0.0,
    }
    running = frame.previous
    for chunk in chunk_pieces(pieces, budget, count):
        text = ""
        started = time.perf_counter()
        try:
            reply = model.complete(frame.request(running, "\n\n".join(chunk)), [], known_tools={})
            stats["calls"] += 1
            stats["prompt_tokens"] += int(reply.prompt_tokens or 0)
            stats["completion_tokens"] += int(reply.completion_tokens or 0)
            text = clean_summary(reply.content)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the model failed: use a plain digest
            stats["fallback"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        stats["seconds"] += time.perf_counter() - started
        if not text:
            stats["fallback"] = stats["fallback"] or "the model wrote no summary"
            text = mechanical_summary(chunk, running, frame.out_tokens * CHARS_PER_TOKEN)
        running = text
    stats["text"] = clip_middle(running, frame.out_tokens * 6)
    return stats
