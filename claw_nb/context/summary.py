"""The summary that replaces older turns: the request that asks for it, and the message it becomes.

After a summary the conversation is `[system prompt, head, recent turns...]`. The head is one
user message: the original task verbatim, then the summary, the files touched (from the tool
log, not from the model), the saved outputs, and the user's latest request when it was folded.
One user message, so chat templates that insist on alternating roles still accept it.
"""

from __future__ import annotations

import re
from typing import Any

from claw_nb.context.outputs import HANDLE_RE, OutputStore
from claw_nb.context.prune import describe_call, parse_arguments
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
