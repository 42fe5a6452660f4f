"""The front matter of an agent definition: the YAML subset Claude Code's files use.

Agent files (`.claude/agents/*.md`) start with a `---` block of `key: value` lines. Claude Code
reads them leniently: a `description` often holds `: ` and literal `\\n` that strict YAML
rejects, so a strict parser would refuse files that work there. This one takes what those files
use: plain and quoted scalars (the first `:` splits key from value; a plain value is kept
whole, `#` included), `[a, b]` and `- item` lists, and `|` / `>` blocks. Standard library only:
no YAML dependency for one header.
"""

from __future__ import annotations

import json
from typing import Any

FENCE = "---"
_BLOCK_STYLES = ("|", "|-", "|+", ">", ">-", ">+")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(the front matter as a dict, the body after it); ({}, text) without a `---` block."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != FENCE:
        return {}, text.strip()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in (FENCE, "...")), None)
    if end is None:
        return {}, text.strip()
    return parse_mapping(lines[1:end]), "\n".join(lines[end + 1 :]).strip()


def parse_mapping(lines: list[str]) -> dict[str, Any]:
    """Top-level `key: value` entries; a value may continue on indented lines or `- ` items."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#") or line[0].isspace():
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        more: list[str] = []
        while i < len(lines) and _continues(lines[i]):
            more.append(lines[i])
            i += 1
        out[key.strip()] = _value(rest.strip(), more)
    return out


def _continues(line: str) -> bool:
    return not line.strip() or line[0].isspace() or line.startswith("- ") or line == "-"


def _value(first: str, more: list[str]) -> Any:
    if first in _BLOCK_STYLES:
        return _block(first, more)
    items = [m.strip() for m in more if m.strip()]
    if not first and items and all(item.startswith("-") for item in items):
        return [_scalar(item[1:].strip()) for item in items]
    if first.startswith("[") and first.endswith("]"):
        return [_scalar(part.strip()) for part in first[1:-1].split(",") if part.strip()]
    if first.startswith(("'", '"')) or not items:
        return _scalar(first)
    return _scalar(" ".join([first, *items]).strip())  # a plain scalar folded over lines


def _block(style: str, more: list[str]) -> str:
    while more and not more[-1].strip():
        more = more[:-1]
    indent = min((len(m) - len(m.lstrip()) for m in more if m.strip()), default=0)
    lines = [m[indent:] for m in more]
    if style.startswith("|"):
        return "\n".join(lines)
    paragraphs, current = [], []  # folded: lines join with spaces, blank lines break
    for line in lines:
        if line.strip():
            current.append(line.strip())
        else:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return "\n".join(paragraphs).strip()


def _scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("null", "~", ""):
        return None
    if text in ("true", "false"):
        return text == "true"
    return text
