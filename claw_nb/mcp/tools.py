"""An MCP server's tools as ordinary claw_nb `Tool`s, and their results as the model's text.

A tool reaches the model as `mcp__<server>__<tool>` with the server's own input schema, so the
permission rules (`mcp__github__*`), argument checks, output budgets and log rows that apply to
built-in tools apply to it unchanged. Its kind is `mcp` (asks in `ask` and `accept-edits`,
denied in `read-only`, like a command), or `read` when the server marks it read-only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from claw_nb.tools.base import Tool, ToolError

PREFIX = "mcp__"
MAX_NAME = 64  # what OpenAI-compatible servers accept for a function name
MAX_DESCRIPTION_CHARS = 2000  # a server's essay would cost every request its tokens
MAX_RESULT_CHARS = 2_000_000  # before the output budget: bounds what one call holds in memory
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """`mcp__<server>__<tool>`, with characters a model API refuses replaced by `_` and a
    name past 64 characters shortened with a hash of the original (so it stays unique)."""
    name = _UNSAFE.sub("_", f"{PREFIX}{server}__{tool}")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


def claw_tool(
    server: str,
    listed: Any,
    call: Callable[[str, dict[str, Any]], Any],
    *,
    trust_read_only: bool = True,
) -> Tool:
    """A `Tool` for the MCP tool `listed` (an `mcp_types.Tool`); `call(name, arguments)` sends
    the call to the server and returns its `CallToolResult`."""
    real_name = listed.name
    schema = dict(listed.input_schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    annotations = getattr(listed, "annotations", None)
    read_only = bool(getattr(annotations, "read_only_hint", False)) and trust_read_only
    description = (listed.description or getattr(listed, "title", None) or real_name).strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 3].rstrip() + "..."

    def run(ctx: Any, **arguments: Any) -> str:
        return render_result(call(real_name, arguments), f"{server}/{real_name}")

    return Tool(
        name=tool_name(server, real_name),
        description=f"{description} (MCP server {server})",
        parameters=schema,
        func=run,
        kind="read" if read_only else "mcp",
        primary_argument=_primary(schema),
    )


def _primary(schema: dict[str, Any]) -> str | None:
    """The argument permission patterns match: `path` if there is one, else the first
    required string, else the first string."""
    props = schema.get("properties") or {}
    strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
    if "path" in strings:
        return "path"
    required = [k for k in schema.get("required") or [] if k in strings]
    return (required or strings or [None])[0]


def render_result(result: Any, where: str) -> str:
    """The text of a `CallToolResult`; an error result raises ToolError with the server's text,
    so the model reads it as a failed call it can fix."""
    parts = [render_block(block) for block in getattr(result, "content", None) or []]
    text = "\n".join(p for p in parts if p)
    structured = getattr(result, "structured_content", None)
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False, indent=1)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n[cut at {MAX_RESULT_CHARS:,} characters]"
    if getattr(result, "is_error", False):
        raise ToolError(f"{where} reported an error: {text or '(no message)'}")
    return text or "(the tool returned nothing)"


def render_block(block: Any) -> str:
    """One content block: text as it is, other media named with their size."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        size = len(getattr(block, "data", "") or "") * 3 // 4
        return f"[{kind} {getattr(block, 'mime_type', '')}, about {size:,} bytes, not shown]"
    if kind == "resource":
        return render_contents(block.resource)
    if kind == "resource_link":
        return f"[resource {getattr(block, 'name', '')} at {block.uri}]"
    return f"[{kind or type(block).__name__} content, not shown]"


def render_contents(contents: Any) -> str:
    """A resource's contents: its text, or what it is when binary."""
    text = getattr(contents, "text", None)
    if text is not None:
        return text
    size = len(getattr(contents, "blob", "") or "") * 3 // 4
    mime = getattr(contents, "mime_type", None) or "binary"
    return f"[{mime} resource {contents.uri}, about {size:,} bytes, not shown]"
