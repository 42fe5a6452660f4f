"""Agent definitions: `.claw/agents/NAME.md` and Claude Code's `.claude/agents/NAME.md`.

A definition is Markdown: a front matter block (`name`, `description`, `tools`, `model`) and a
body that becomes the subagent's system prompt. Both folders are in the workspace, so a cloned
repository or the agent itself may have written them: they are read through the confined reads
of `claw_nb.untrusted`, and nothing in them can widen what the parent may do. `tools` only
narrows the parent's tool set; the permission mode is always the parent's. A `model` is used
when it stays on this machine or network (`claw_nb.locality.stays_local`), or when the file is
under `.claw/`, which commands cannot write and file edits write only after the user says yes;
otherwise the child runs on the parent's model, as a `[tool.claw] model` would be refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from claw_nb.claw_dir import CLAW_DIR
from claw_nb.config import ClawConfig
from claw_nb.lazy_logger import get_logger
from claw_nb.locality import stays_local
from claw_nb.prompts import SystemPrompt, project_memory
from claw_nb.records import record
from claw_nb.subagents.front_matter import split_front_matter
from claw_nb.untrusted import UntrustedPathRefused, confined_path, read_untrusted_text

logger = get_logger("claw_nb")

# Searched in this order: on a name in both, claw_nb's own folder wins.
AGENT_DIRS = (Path(CLAW_DIR) / "agents", Path(".claude") / "agents")
MAX_DEFINITION_BYTES = 64 * 1024
MAX_DEFINITIONS = 50
GENERAL_PURPOSE = "general-purpose"  # Claude Code's name for the child with the parent's tools
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# Claude Code's tool names, as claw_nb calls the same tools.
CLAUDE_TOOL_NAMES = {
    "Read": "read_file",
    "Write": "write_file",
    "Edit": "edit_file",
    "MultiEdit": "edit_file",
    "Glob": "list_files",
    "LS": "list_files",
    "Grep": "grep",
    "Bash": "run_command",
    "TodoWrite": "todo_write",
    "NotebookRead": "notebook_read",
    "NotebookEdit": "notebook_edit",
    "Task": "task",
    "Agent": "task",
}
# Claude Code's model aliases name Anthropic models; here they mean the parent's model.
INHERIT_MODELS = frozenset({"inherit", "sonnet", "opus", "haiku"})


@record(frozen=True)
class AgentDefinition:
    """One agent file, parsed; `tools` None means every tool the parent has."""

    name: str
    description: str
    prompt: str
    source: str  # the file, relative to the workspace
    tools: tuple[str, ...] | None = None
    model: str | None = None

    @property
    def protected(self) -> bool:
        """Under `.claw/`: commands cannot write it, file edits ask the user first."""
        return Path(self.source).parts[:1] == (CLAW_DIR,)

    def allowed_tools(self, available: Iterable[str]) -> tuple[set[str], list[str]]:
        """(the names among `available` this definition allows, the names it gives that are
        not there: another product's tools, or a tool with an argument pattern)."""
        names = list(available)
        if self.tools is None:
            return set(names), []
        allowed, missing = set(), []
        for given in self.tools:
            ours = CLAUDE_TOOL_NAMES.get(given, given)
            if ours in names:
                allowed.add(ours)
            else:
                missing.append(given)
        return allowed, missing

    def model_for(self, config: ClawConfig) -> tuple[str | None, str | None]:
        """(the model the child runs on, None for the parent's; why a named one is not used)."""
        if self.model is None or self.model.lower() in INHERIT_MODELS:
            return None, None
        if self.model == config.model:
            return None, None
        if self.protected or stays_local(replace(config, model=self.model)):
            return self.model, None
        return None, (
            f"model {self.model!r} of {self.source} is not a local model; the parent's model "
            f"runs it (name it in a file under {CLAW_DIR}/agents/ to use it)"
        )

    def system_prompt(self, workspace: Path) -> SystemPrompt:
        """The body, then where the child works and how its answer is used."""
        text = (
            f"{self.prompt.strip()}\n\nWorkspace (paths are relative to it): {workspace}.\n"
            "When you are done, reply with your findings or a summary of what you changed and "
            "call no tool: that reply is all the agent that asked you will see.\n"
            f"{project_memory(workspace)}"
        )
        return SystemPrompt(name=f"agent:{self.name}", text=text.strip() + "\n")


def parse_definition(text: str, source: str) -> AgentDefinition:
    """A definition from a file's text; `ValueError` says what is wrong with it."""
    meta, body = split_front_matter(text)
    name = str(meta.get("name") or Path(source).stem).strip()
    if not _NAME.fullmatch(name):
        raise ValueError(f"{source}: name {name!r} must be letters, digits, '-', '_' or '.'")
    if not body:
        raise ValueError(f"{source}: no system prompt after the front matter")
    model = meta.get("model")
    return AgentDefinition(
        name=name,
        description=" ".join(str(meta.get("description") or "").split()),
        prompt=body,
        source=source,
        tools=_tool_list(meta.get("tools")),
        model=str(model).strip() if model else None,
    )


def _tool_list(value: Any) -> tuple[str, ...] | None:
    """`Read, Grep` or a list; absent or empty: every tool (as Claude Code reads it)."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    return names or None


def load_definitions(workspace: Path | str) -> dict[str, AgentDefinition]:
    """The workspace's agent definitions by name. A file that cannot be read or parsed is
    skipped with a warning in the log: one bad file must not take the `task` tool away."""
    found: dict[str, AgentDefinition] = {}
    for folder in AGENT_DIRS:
        for source in _agent_files(workspace, folder):
            if len(found) >= MAX_DEFINITIONS:
                logger.warning("claw_nb: over %d agent definitions: not read", MAX_DEFINITIONS)
                return found
            try:
                text = read_untrusted_text(workspace, source, max_bytes=MAX_DEFINITION_BYTES)
                if text is None:
                    continue
                definition = parse_definition(text, source)
            except (UntrustedPathRefused, OSError, ValueError) as exc:
                logger.warning("claw_nb: agent definition %s skipped: %s", source, exc)
                continue
            found.setdefault(definition.name, definition)
    return found


def _agent_files(workspace: Path | str, folder: Path) -> list[str]:
    """The `*.md` names in `folder`, relative to the workspace; none if it leads out of it."""
    try:
        # No such folder (the usual answer): no need to work out the hidden paths, a scan of
        # every log database the user has (~20-40 ms with a few hundred of them).
        if not os.path.lexists(confined_path(workspace, folder, hidden=())):
            return []
        resolved = confined_path(workspace, folder)
        with os.scandir(resolved) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".md"))
    except UntrustedPathRefused as exc:
        logger.warning("claw_nb: agent folder %s not read: %s", folder, exc)
        return []
    except OSError:  # no such folder (the usual case), or not a folder
        return []
    return [str(folder / name) for name in names]
