"""HTML pieces of a transcript: styles, diffs, tool-call cards. Shared by the live widget and
its static copy (which must show without a kernel, so everything is inline-styled HTML)."""

from __future__ import annotations

import html
import re
from typing import Any

from claw_nb.jupyter.call_gist import LIMIT, call_gist, one_line
from claw_nb.jupyter.changes import describe_arguments
from claw_nb.outcomes import StopReason
from claw_nb.textsafe import show

MAX_OUTPUT_CHARS = 20_000

BOX = (
    "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px;padding:3px 8px;"
    "margin:3px 0;font-size:var(--jp-code-font-size,12px);"
)
PRE = (
    "margin:4px 0;padding:4px 6px;max-height:24em;overflow:auto;white-space:pre-wrap;"
    "background:var(--jp-layout-color2,#f5f5f5);font-family:var(--jp-code-font-family,monospace);"
)
MUTED = "color:var(--jp-ui-font-color2,#666);"
# Hunk headers: the theme's link colour has >= 4.5:1 contrast on its own background, light or dark.
HUNK = "color:var(--jp-content-link-color,#1a5096);"
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
            style = HUNK
        else:
            style = ""
        rows.append(f'<span style="{style}">{esc(line)}</span>' if style else esc(line))
    return f'<pre class="claw-diff" style="{PRE}">' + "\n".join(rows) + "</pre>"


STOP_WORDS = {
    StopReason.COMPLETED: "completed",
    StopReason.INTERRUPTED: "stopped by you",
    StopReason.MAX_STEPS: "stopped at the step limit",
    StopReason.OUTPUT_TRUNCATED: "answer cut off (the model's length limit)",
    StopReason.MODEL_UNREACHABLE: "model unreachable",
    StopReason.AUTH: "model refused the key",
    StopReason.MODEL_TIMEOUT: "model timed out",
    StopReason.CONTEXT_LENGTH_EXCEEDED: "conversation too long for the model",
    StopReason.REPLY_TOO_LONG: "reply too long (past the reply's token cap)",
    StopReason.TIMEOUT: "trial timed out",
    StopReason.ERROR: "failed (a bug in claw_nb)",
    StopReason.MODEL_ERROR: "the model server returned an error",
    StopReason.EMBEDDED_MODEL_ERROR: "the embedded model failed",
    StopReason.STUCK: "stopped: the model repeated the same call",
    StopReason.HOOK: "stopped by a hook",
}


def stop_words(reason: str) -> str:
    """A stop reason as a person says it."""
    return STOP_WORDS.get(reason, reason.replace("_", " "))


_RETRY = re.compile(r"attempt (\d+) failed \((.*)\); retrying in ([\d.]+)\s*s", re.S)
_STATUS = re.compile(r"\b([45]\d\d)\b")


def retry_words(message: str, max_retries: int | None = None) -> str:
    """'server error 500, retrying in 2 s (1/4)' from the loop's retry message."""
    found = _RETRY.search(message)
    if found is None:
        return f"model call {message}"
    attempt, why, delay = found.groups()
    status = _STATUS.search(why)
    lowered = why.lower()
    if status:
        code = int(status.group(1))
        what = f"server error {code}" if code >= 500 else f"request refused ({code})"
        if code == 429:
            what = "rate limited (429)"
    elif "timeout" in lowered or "timed out" in lowered:
        what = "the model timed out"
    elif "connect" in lowered or "refused" in lowered:
        what = "cannot reach the model server"
    else:
        what = "model call failed"
    seconds = float(delay)
    wait = f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    of = f"/{max_retries}" if max_retries else ""
    return f"{what}, retrying in {wait} ({attempt}{of})"


def took(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 100 else f"{ms:.0f} ms"


class Card:
    """One tool call as HTML (and Markdown for the static copy), re-rendered as it progresses:
    a one-line header (`call_gist`), the full arguments behind a disclosure, then the rule that
    allowed or denied it, the diff it made (or, denied, the diff it proposed) and its output."""

    def __init__(self, tool: str, arguments: dict[str, Any] | None, raw: str) -> None:
        self.tool = tool
        self.arguments = arguments
        self.raw = raw
        self.state = "running"
        self.icon = "\u22ef"
        self.body = ""
        self.body_markdown = ""
        self.show_arguments = True
        self.rule_line = ""  # "allowed by rule run_command(pytest *)"
        self.proposed: str | None = None  # the diff an edit proposed (kept if it is denied)

    def gist(self, limit: int = LIMIT) -> str:
        return call_gist(self.tool, self.arguments, self.raw, limit)

    def html(self) -> str:
        head = (
            f'<span class="claw-card-icon" style="color:{ICON_COLOURS.get(self.icon, "inherit")}">'
            f"{self.icon}</span> <b>{esc(self.tool)}</b> "
            f'<code class="claw-card-gist">{esc(self.gist())}</code> '
            f'<span class="claw-card-status" style="{MUTED}">{esc(self.state)}</span>'
        )
        rule = (
            f'<div class="claw-card-rule" style="{MUTED}">{esc(self.rule_line)}</div>'
            if self.rule_line
            else ""
        )
        return (
            f'<div class="claw-card" style="{BOX}">{head}{rule}{self._arguments()}{self.body}</div>'
        )

    def _arguments(self) -> str:
        """The full arguments, folded, unless the header already says all of them."""
        if not self.show_arguments:
            return ""
        full = describe_arguments(self.arguments, self.raw)
        values = list((self.arguments or {}).values())
        said = len(values) == 1 and one_line(str(values[0]), 10**6) == self.gist(10**6)
        if not full.strip() or said:
            return ""
        return (
            f'<details class="claw-card-arguments"><summary style="{MUTED}">arguments</summary>'
            f'<pre style="{PRE}">{esc(clip(show(full)))}</pre></details>'
        )

    def _line(self) -> str:
        rule = f"; {self.rule_line}" if self.rule_line else ""
        return f"{self.tool} {self.gist(80)} ({self.state}{rule})"

    def markdown(self) -> str:
        rule = f"; {self.rule_line}" if self.rule_line else ""
        line = f"{self.icon} **{self.tool}** `{self.gist(80)}` ({self.state}{rule})"
        return line + (f"\n\n{self.body_markdown}" if self.body_markdown else "")

    def plain(self) -> str:
        return f"{self.icon} {self._line()}" + (
            f"\n{self.body_markdown}" if self.body_markdown else ""
        )

    def finish(
        self,
        ok: bool,
        error_kind: str | None,
        duration_ms: float,
        output: str,
        change: Any = None,
        rule: str | None = None,
    ) -> None:
        """The call ended: status, duration (time waiting for a person excluded), the rule
        that decided it, diff/output; a denied edit keeps the diff it proposed."""
        denied = error_kind == "denied"
        if ok:
            self.state, self.icon = f"ok \u00b7 {took(duration_ms)}", "\u2713"
        elif denied:
            self.state, self.icon = "denied", "\u2298"
        else:
            self.state, self.icon = f"error ({error_kind}) \u00b7 {took(duration_ms)}", "\u2717"
        if rule is not None:
            self.rule_line = f"{'denied' if denied else 'allowed'} by rule {rule}"
        parts, md = [], []
        if change is not None:
            parts.append(
                f'<div style="{MUTED}">{esc(change.label())}</div>' + diff_html(change.diff)
            )
            md.append(f"{change.label()}\n\n```diff\n{clip(change.diff, 8_000)}\n```")
        elif denied and self.proposed:
            parts.append(
                f'<div class="claw-card-proposed" style="{MUTED}">proposed change (not made)'
                f"</div>" + diff_html(self.proposed)
            )
            md.append(f"proposed change (not made)\n\n```diff\n{clip(self.proposed, 8_000)}\n```")
        output = show(output or "")
        if output and change is None:
            lines = output.count("\n") + 1
            open_attr = "" if ok else " open"
            parts.append(
                f'<details{open_attr}><summary style="{MUTED}">output ({lines} line'
                f"{'s' if lines != 1 else ''})</summary>"
                f'<pre class="claw-output" style="{PRE}">{esc(clip(output))}</pre></details>'
            )
            md.append("```\n" + clip(output, 4_000).replace("```", "`\u200b``") + "\n```")
        self.body = "".join(parts)
        self.body_markdown = "\n\n".join(md)


def todo_list(todos: Any) -> tuple[str, str]:
    """(html, markdown) of the agent's todo list, marks for done and under way."""
    marks = {"completed": "\u2611", "in_progress": "\u25b6"}
    items = [(marks.get(t.get("status"), "\u2610"), str(t.get("content", ""))) for t in todos]
    html = (
        f'<div style="{BOX}"><b>plan</b><ul style="margin:2px 0">'
        + "".join(f"<li>{m} {esc(c)}</li>" for m, c in items)
        + "</ul></div>"
    )
    return html, "**plan**\n\n" + "\n".join(f"- {m} {c}" for m, c in items)
