"""System prompt templates (Markdown, `$name` placeholders) and their rendering."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from claw_nb.lazy_logger import get_logger
from claw_nb.records import record
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted, read_untrusted_text

logger = get_logger(__name__)

MEMORY_FILES = ("AGENTS.md", "CLAW.md", "CLAUDE.md")
MAX_MEMORY_CHARS = 20_000
MAX_PROMPT_BYTES = 1 << 20


@record(frozen=True)
class SystemPrompt:
    name: str
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


def template_text(name: str = "default", workspace: Path | None = None) -> str:
    """A packaged template by name, or a path to a Markdown file of the user's.

    A file inside `workspace` (settings name `.claw/prompts/NAME.md`) is read through the
    confined, no-follow open: a link planted there cannot make the host read another file.
    """
    path = Path(name)
    if path.suffix == ".md" and (path.is_file() or path.is_symlink()):
        root = Path(os.path.realpath(workspace)) if workspace is not None else None
        lexical = Path(os.path.abspath(path))
        if root is not None and lexical.is_relative_to(root):
            try:
                text = read_untrusted_text(
                    root, lexical.relative_to(root), max_bytes=MAX_PROMPT_BYTES
                )
            except UntrustedPathRefused as exc:
                raise ValueError(f"prompt file refused: {exc}") from None
            if text is not None:
                return text
        else:
            return path.read_text(encoding="utf-8")  # a file the user named outside the workspace
    try:
        return resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"unknown prompt template '{name}'") from None


def project_memory(workspace: Path) -> str:
    """The project's standing instructions, from the first memory file present.

    Memory files come with cloned repositories and can be written by commands, so they are
    read confined to the workspace, without following links out of it or into hidden paths.
    A refused file is skipped with a warning, never read.
    """
    for filename in MEMORY_FILES:
        try:
            data = read_untrusted(workspace, filename, max_bytes=MAX_MEMORY_CHARS * 4)
        except UntrustedPathRefused as exc:
            logger.warning("claw_nb: project memory %s not read: %s", filename, exc)
            continue
        except OSError:
            continue
        if data is not None:
            text = data.decode("utf-8", errors="replace")[:MAX_MEMORY_CHARS]
            return f"\n# Project instructions (from {filename})\n{text.strip()}\n"
    return ""


def describe_tools(tools: Any) -> str:
    lines = []
    for tool in tools:
        args = ", ".join(
            name if name in tool.parameters.get("required", []) else f"{name}?"
            for name in tool.parameters.get("properties", {})
        )
        summary = tool.description.strip().splitlines()[0] if tool.description else ""
        lines.append(f"- `{tool.name}({args})`: {summary}")
    return "\n".join(lines)


def _system() -> str:
    """The OS as `platform.system()` and `platform.release()` say it ("Linux 6.1.0"), from uname (the
    `platform` module costs ~4 ms to import, in every process that builds a prompt)."""
    if hasattr(os, "uname"):
        name = os.uname()
        return f"{name.sysname} {name.release}"
    import platform  # no uname (Windows)

    return f"{platform.system()} {platform.release()}"


def render_template(template: str, workspace: Path, tools: Any, memory: str = "") -> str:
    """A template's text as the model reads it (the lab counts a variant's prompt with it)."""
    text = Template(template).safe_substitute(
        workspace=str(workspace),
        os=_system(),
        tools=describe_tools(tools),
        memory=memory,
    )
    return text.strip() + "\n"


def render_system_prompt(workspace: Path, tools: Any, name: str = "default") -> SystemPrompt:
    text = render_template(
        template_text(name, workspace), workspace, tools, project_memory(workspace)
    )
    return SystemPrompt(name=Path(name).stem, text=text)
