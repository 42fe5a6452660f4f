"""A request's size from its length alone, for when loading the tokenizer is not worth it.

While even a generous bound on a request stays under the compaction threshold, the context
manager estimates instead of loading a tokenizer (~0.4 s and ~45 MiB a process); the parts are
marked `exact: 0` in the log.
"""

from __future__ import annotations

from typing import Any

from claw_nb.context.tokens import PRIMING, TokenCounter, scaled


def estimate_request(
    counter: TokenCounter,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    ratio: float,
    window: int,
) -> tuple[int, dict[str, int]]:
    """(tokens, the request's parts) estimated from characters, calibrated by `ratio`."""
    guess = counter.estimate
    system = sum(guess(m) for m in messages if m.get("role") == "system")
    results = sum(guess(m) for m in messages if m.get("role") == "tool")
    history = sum(guess(m) for m in messages if m.get("role") not in ("system", "tool"))
    tool_tokens = guess(tools) if tools else 0
    tokens = scaled(PRIMING + system + results + history + tool_tokens, ratio)
    parts = {
        "system": system,
        "tools": tool_tokens,
        "history": history,
        "tool_results": results,
        "estimate": tokens,
        "window": window,
        "exact": 0,
    }
    return tokens, parts
