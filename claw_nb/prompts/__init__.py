"""System prompt templates (Markdown, `$name` placeholders) and their rendering."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

MEMORY_FILES = ("AGENTS.md", "CLAW.md", "CLAUDE.md")
MAX_MEMORY_CHARS = 20_000


@dataclass(frozen=True)
class SystemPrompt:
    name: str
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


def template_text(name: str = "default") -> str:
    """A packaged template by name, or a path to a Markdown file of the user's."""
    path = Path(name)
    if path.suffix == ".md" and path.is_file():
        return path.read_text(encoding="utf-8")
    try:
        return resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"unknown prompt template '{name}'") from None


def project_memory(workspace: Path) -> str:
    """The project's standing instructions, from the first memory file present."""
    for filename in MEMORY_FILES:
        path = Path(workspace) / filename
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[:MAX_MEMORY_CHARS]
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


def render_system_prompt(workspace: Path, tools: Any, name: str = "default") -> SystemPrompt:
    text = Template(template_text(name)).safe_substitute(
        workspace=str(workspace),
        os=f"{platform.system()} {platform.release()}",
        tools=describe_tools(tools),
        memory=project_memory(workspace),
    )
    return SystemPrompt(name=Path(name).stem, text=text.strip() + "\n")
