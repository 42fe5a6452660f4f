"""HTML pieces of a transcript: styles, diffs, tool-call cards. Shared by the live widget and
its static copy (which must show without a kernel, so everything is inline-styled HTML)."""

from __future__ import annotations

import html
import json
from typing import Any

MAX_OUTPUT_CHARS = 20_000

BOX = (
    "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px;padding:3px 8px;"
    "margin:3px 0;font-size:var(--jp-code-font-size,12px);"
)
PRE = (
    "margin:4px 0;padding:4px 6px;max-height:24em;overflow:auto;white-space:pre-wrap;"
    "background:var(--jp-layout-color2,#f5f5f5);font-family:var(--jp-code-font-family,monospace);"
)
MUTED = "color:var(--jp-ui-font-color2,#777);"
ICON_COLOURS = {"\u2713": "#28a745", "\u2717": "#c0392b", "\u2298": "#c0392b", "?": "#b26a00"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters]"


def diff_html(diff: str) -> str:
    """A unified diff as a <pre> with added lines green and removed lines red."""
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            style = "font-weight:bold;"
        elif line.startswith("+"):
            style = "background:rgba(40,167,69,.18);"
        elif line.startswith("-"):
            style = "background:rgba(220,53,69,.18);"
        elif line.startswith("@@"):
            style = "color:#3b6fb6;"
        else:
            style = ""
        rows.append(f'<span style="{style}">{esc(line)}</span>' if style else esc(line))
    return f'<pre class="claw-diff" style="{PRE}">' + "\n".join(rows) + "</pre>"


def short_arguments(arguments: dict[str, Any] | None, raw: str, limit: int = 120) -> str:
    if arguments is None:
        text = raw
    elif len(arguments) == 1:
        value = next(iter(arguments.values()))
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    else:
        text = ", ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in arguments.items()
        )
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
