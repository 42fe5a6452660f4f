"""Cutting long text to a budget while keeping both ends, where the useful parts usually are."""

from __future__ import annotations


def clip_middle(text: str, limit: int) -> str:
    """`text` if it fits, else its head and tail with a note of how much was left out."""
    if len(text) <= limit:
        return text
    marker = "\n... [{} characters omitted] ...\n"
    keep = max(0, limit - len(marker.format(len(text))))
    head = keep * 2 // 3
    tail = keep - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(omitted) + (text[-tail:] if tail else "")
