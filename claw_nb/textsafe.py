"""Text shown to a person, with every control character made visible.

A model can put terminal escape sequences in a command or its output: `\\r\\x1b[2K` makes a
dangerous command display as a harmless one in an approval prompt, OSC 52 sets the clipboard,
bidirectional overrides reorder what you read. Everything claw_nb shows a person (CLI prompts and
printer, the notebook views, logs shown in notebooks) goes through `show` first.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi/invisible controls.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_NAMES = {"\x1b": "\\e", "\r": "\\r", "\x00": "\\0", "\x07": "\\a", "\x08": "\\b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMES:
        return _NAMES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show(text: str) -> str:
    """`text` for a person: colour codes (SGR, harmless) dropped, Windows line ends made plain,
    every other control character written as an escape (`\\e[2K`, `\\r`, `\\u202e`)."""
    text = _SGR.sub("", text).replace("\r\n", "\n")
    return _CONTROL.sub(_escape, text)


def strip_ansi(text: str) -> str:
    """`text` without terminal colour and cursor sequences (for output a model or a page reads);
    other control characters are left for `show`."""
    return _ANSI.sub("", text)
