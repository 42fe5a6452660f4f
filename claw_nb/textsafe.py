"""Text from commands and models, made safe to show a person.

Minimal version written by the notebook shell; the security-tools helper owns this module and
may extend it. `show(text)` drops terminal escape sequences (colours, cursor moves, OSC titles
and links) and writes every other control character as a visible escape, keeping newlines and
tabs, so a transcript never carries raw `ESC[32m` or a bell.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def show(text: str) -> str:
    """`text` without escape sequences and with other control characters made visible."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
