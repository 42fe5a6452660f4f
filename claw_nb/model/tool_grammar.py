"""Which grammar a request carries when the server takes one (the `tool_grammar` setting).

For a llama.cpp server with the tools described in the prompt (the embedded model). Measured
on SmolLM2-135M (docs/models.md, "The first run"): left free, it never starts a tool call; made
to call, it reads the example path of the tool description (`src/app.py`), not the file the
task names; shown a result, it calls again (the same call) more often than it answers. So:

- the first reply of a turn whose task names files or folders that exist in the workspace is
  one call that looks at them: `read_file` on a named file, else `list_files` on a named folder;
  a task that speaks of the project or its files without naming one starts with `list_files`;
- after tool results, a question (a task without a word of change such as "add" or "fix") is
  answered in plain text: one look, then the answer;
- every other reply is plain text or one well-formed call to an offered tool (a model that
  repeats itself there is stopped by the loop guard, `claw_nb.loop_guard`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from claw_nb.toolcalls.grammar import call_grammar

# Words that say the task is about the workspace even when it names no file.
WORKSPACE_WORDS = frozenset(
    "file files project repo repository code codebase folder directory workspace".split()
)
# Words that ask for a change or an action: such a task may go on calling tools after a look.
ACTION_WORDS = frozenset(
    "add change edit fix rename remove delete implement refactor update write create make "
    "test run install build format replace move insert append".split()
)
_PATHLIKE = re.compile(r"[\w.][\w./-]*")


def named_paths(task: str, workspace: Path) -> list[str]:
    """Paths the task names that exist inside the workspace, in the order named."""
    root = Path(workspace).resolve()
    found: list[str] = []
    for word in _PATHLIKE.findall(task):
        word = word.rstrip(".").removeprefix("./")
        if not word or word in found or ".." in word.split("/"):
            continue
        try:
            target = (root / word).resolve()
        except OSError:
            continue
        if target != root and target.is_relative_to(root) and target.exists():
            found.append(word)
    return found


def _look(specs: list[dict[str, Any]], task: str, workspace: Path) -> list[dict[str, Any]] | None:
    """The one-tool spec the first reply must call, or None when the task needs no look."""
    offered = {(s.get("function") or s).get("name"): s for s in specs}
    paths = named_paths(task, workspace)
    files = [p for p in paths if (Path(workspace) / p).is_file()]
    folders = [p for p in paths if p not in files]
    if files and "read_file" in offered:
        return [_one("read_file", {"path": {"type": "string", "enum": files}}, ["path"])]
    if "list_files" not in offered:
        return None
    if folders:
        return [_one("list_files", {"path": {"type": "string", "enum": folders}}, ["path"])]
    if WORKSPACE_WORDS & set(re.findall(r"[a-z]+", task.lower())):
        return [_one("list_files", {}, [])]
    return None


def _one(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def request_grammar(
    messages: list[dict[str, Any]], specs: list[dict[str, Any]], workspace: Path
) -> str | None:
    """The GBNF grammar for the next reply to `messages` (None without tools)."""
    if not specs:
        return None
    last = messages[-1] if messages else {}
    if last.get("role") == "user" and isinstance(last.get("content"), str):
        look = _look(specs, last["content"], workspace)
        if look is not None:
            return call_grammar(look, required=True)
    elif last.get("role") == "tool" and not _asks_for_action(_task(messages)):
        return call_grammar([])  # plain text: the answer to the question
    return call_grammar(specs)


def _task(messages: list[dict[str, Any]]) -> str:
    """The turn's task: the last user message."""
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def _asks_for_action(task: str) -> bool:
    return bool(ACTION_WORDS & set(re.findall(r"[a-z]+", task.lower())))
