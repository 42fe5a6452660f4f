"""A `session/prompt`'s content blocks as the task text the agent loop takes.

Text is taken as it is; a file the user attached as a link (`resource_link`, e.g. Jupyter AI's
attachments) is named by its workspace path, so the model can read it with its tools; a file
the client embedded (`resource`, the `embedded_context` capability) comes with its text. Images
and audio are not advertised (claw's models read text); if a client sends them anyway, the task
says one was left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from claw_nb.acp.tool_views import ClientPaths


def prompt_text(blocks: list[Any], paths: ClientPaths) -> str:
    """The task text for `blocks`, in their order."""
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource_link":
            parts.append(f"[attached: {uri_name(block.uri, paths)}]")
        elif kind == "resource":
            resource = block.resource
            name = uri_name(resource.uri, paths)
            body = getattr(resource, "text", None)
            if isinstance(body, str):
                parts.append(f'<attached path="{name}">\n{body}\n</attached>')
            else:
                parts.append(f"[attached: {name} (binary, not shown)]")
        elif kind in ("image", "audio"):
            parts.append(f"[the user attached {kind} content; claw reads text only]")
    return "\n\n".join(part for part in parts if part).strip()


def uri_name(uri: str, paths: ClientPaths) -> str:
    """A file URI or path as the model should name it: relative inside the workspace."""
    split = urlsplit(uri)
    if split.scheme not in ("", "file"):
        return uri
    path = Path(unquote(split.path)) if split.scheme == "file" else Path(uri)
    if not path.is_absolute():
        return str(path)
    for root in (paths.client_root, paths.workspace):
        if root in path.parents:
            return str(path.relative_to(root))
    return str(path)
