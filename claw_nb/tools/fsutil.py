"""Small text helpers shared by the file tools (writes go through `safe_io.write_atomic`)."""

from __future__ import annotations

BINARY_SNIFF_BYTES = 8192


def looks_binary(head: bytes) -> bool:
    """True if the first bytes of a file contain a NUL byte."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def count_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)
