"""What "Always allow" offers: the narrowest command shape that covers the call a person saw.

Only an allow-list of shapes is ever widened to `SHAPE *`: test runners (`pytest`,
`python -m pytest`, `npm test`, `npm run test`, `cargo test`, `go test`, `uv run pytest`),
linters (`ruff check`, `mypy`), `git status` and a few programs that only read (`ls`, `cat`,
`grep`, ...). Everything else (interpreters, package installers, build tools, `find`, `tar`,
`git log` with its `--output`, ...) is offered only as the exact command: too many programs
run code or write files through their options to list them all. "Narrowest" means narrowest
shape, not harmless: a test runner runs whatever tests and conftest.py the agent writes.
A compound line (`&&`, `;`, pipes, redirections) is offered as its exact text, never a
wildcard; a line the rules cannot read (`$(...)`) gets no rule. An edit is offered for its
file, kernel code for its exact text, an MCP tool as the tool.

The policy (`claw_nb.permissions`) shows the offer before the answer and adds exactly it; an
allow rule meets a command only as written (`claw_nb.permission_rules.Rule.allows`).
"""

from __future__ import annotations

import re
from typing import Any

from claw_nb.command_line import BARE_PROGRAM, Unparsable, plain_words, split_commands
from claw_nb.permission_rules import Rule, glob_escape, primary_value

# The command shapes "always" may widen to `SHAPE *`; any other command is offered exactly.
WIDENED = {
    ("pytest",), ("py.test",), ("mypy",), ("ruff", "check"), ("ruff", "format"),
    ("npm", "test"), ("npm", "run", "test"), ("pnpm", "test"), ("pnpm", "run", "test"),
    ("yarn", "test"), ("yarn", "run", "test"), ("cargo", "test"), ("go", "test"),
    ("git", "status"),
    ("ls",), ("cat",), ("head",), ("tail",), ("wc",), ("pwd",), ("echo",), ("grep",), ("diff",),
}  # fmt: skip
# `python -m MODULE ...` is widened like MODULE for these modules only.
PYTHON_MODULES = {"pytest", "mypy", "ruff"}
# Prefixes that run a project's command: widened like that command (`uv run pytest *`).
RUNNERS = {
    ("uv", "run"), ("poetry", "run"), ("pdm", "run"), ("pipenv", "run"), ("rye", "run"),
    ("hatch", "run"),
}  # fmt: skip
_PYTHON = re.compile(r"(?:python|pypy)[0-9.]*", re.ASCII)


def offered_rule(
    tool: str, kind: str, arguments: dict[str, Any], primary: str | None = None
) -> Rule | None:
    """The allow rule "always" offers for this call (None: it offers none)."""
    if kind == "command":
        pattern = command_pattern(str(arguments.get(primary or "command", "")))
        return None if pattern is None else Rule("allow", tool, pattern, "conversation")
    if kind in ("edit", "kernel"):  # this file; this exact code
        value = primary_value(arguments, primary)
        if value is None or not value.strip():
            return None
        return Rule("allow", tool, glob_escape(value), "conversation")
    return Rule("allow", tool, None, "conversation")  # an MCP tool, a tool of unknown kind


def command_pattern(line: str) -> str | None:
    """The pattern offered for a command line: a narrowed one for one plain command, else the
    exact line; None for a line the rules cannot read."""
    line = line.strip()
    try:
        if not split_commands(line):
            return None
    except Unparsable:
        return None
    words = plain_words(line)
    narrowed = _narrow(words) if words else None
    return narrowed if narrowed is not None else glob_escape(line)


def _narrow(words: list[str]) -> str | None:
    """The pattern for one plain simple command (its words as written), or None: exact only."""
    if not words or not BARE_PROGRAM.fullmatch(words[0]):
        return None  # a program by path, a variable assignment, a lookalike name
    for prefix in RUNNERS:
        if tuple(words[: len(prefix)]) == prefix:
            narrowed = _narrow(words[len(prefix) :])
            return None if narrowed is None else " ".join(prefix) + " " + narrowed
    if _PYTHON.fullmatch(words[0]):
        if len(words) >= 3 and words[1] == "-m" and words[2] in PYTHON_MODULES:
            narrowed = _narrow(words[2:])
            return None if narrowed is None else f"{words[0]} -m {narrowed}"
        return None
    for shape in sorted(WIDENED, key=len, reverse=True):
        if tuple(words[: len(shape)]) == shape:
            return " ".join(shape) + " *"
    return None
