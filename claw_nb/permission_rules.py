"""Permission rules: `TOOL` or `TOOL(PATTERN)` with an action, matched against a call.

A rule's tool part is a name, `*`, a glob (`mcp__github__*`) or an MCP server; its pattern is a
shell-style glob on the tool's primary argument (a path, a command line). Path patterns treat
`**` as crossing directories; command rules meet each parsed simple command
(`claw_nb.permissions` splits the line): deny and ask rules its normalised form, allow rules
the command as written (`Rule.allows`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import field
from typing import Any, Literal

from claw_nb.command_line import BARE_PROGRAM, SimpleCommand, command_text
from claw_nb.errors import PermissionSettingsError
from claw_nb.records import record

ACTIONS = ("allow", "ask", "deny")
# Where a rule comes from: a settings file (or the API), or an "always" answered in this
# conversation (`%claw rules` lists and drops those).
Origin = Literal["settings", "conversation"]
_GLOB_CHARS = "*?["
_ESCAPES = ("[*]", "[?]", "[[]")

# When a caller names a tool without its declaration: the usual primary arguments, in order.
_PRIMARY_GUESSES = ("path", "command", "code")


@record(frozen=True)
class Rule:
    action: str  # allow / ask / deny
    tool: str  # tool name, or * for any
    pattern: str | None  # glob on the primary argument; None matches any call
    origin: Origin = field(default="settings", compare=False)

    @classmethod
    def parse(cls, action: str, text: str, origin: Origin = "settings") -> Rule:
        if action not in ACTIONS:
            raise PermissionSettingsError(
                f"rule action must be one of {', '.join(ACTIONS)}, got {action!r}"
            )
        match = re.fullmatch(r"\s*([\w*-]+)\s*(?:\((.*)\))?\s*", text, flags=re.DOTALL)
        if not match:
            raise PermissionSettingsError(
                f"bad permission rule {text!r}: write TOOL or TOOL(PATTERN), e.g. run_command(pytest*)"
            )
        return cls(action, match.group(1), match.group(2), origin)

    def __str__(self) -> str:
        return self.tool if self.pattern is None else f"{self.tool}({self.pattern})"

    def matches_text(self, text: str) -> bool:
        """The pattern against one simple command; `git *` also matches a bare `git`."""
        if self.pattern is None:
            return True
        return glob_match(self.pattern, text) or (
            self.pattern.endswith(" *") and text == self.pattern[:-2]
        )

    def allows(self, command: SimpleCommand) -> bool:
        """An allow rule against one simple command as written, never its normalised form.
        A program named bare (`pytest`) is met by a pattern that names no path; any other
        first word (`./pytest`, `PATH=.`, `pytеst`) only by a pattern that starts with that
        very word. A command that writes a file through a redirection is met by none."""
        if self.pattern is None:
            return True
        if command.writes or not command.written:
            return False
        words = command.written
        head, _, tail = self.pattern.partition(" ")
        if BARE_PROGRAM.fullmatch(words[0]):
            return "/" not in head and self.matches_text(command_text(words))
        if literal_text(head) != words[0]:
            return False
        rest = command_text(words[1:])
        return rest == "" if not tail else Rule(self.action, self.tool, tail).matches_text(rest)

    def matches_line(self, line: str) -> bool:
        """An exact rule (no wildcard) against a whole command line: how a compound line that
        a person approved once with "always" is allowed again, and only that line."""
        literal = None if self.pattern is None else literal_text(self.pattern)
        return literal is not None and literal == line.strip()

    def matches(self, tool: str, arguments: dict[str, Any], primary: str | None = None) -> bool:
        if not tool_matches(self.tool, tool):
            return False
        if self.pattern is None:
            return True
        value = primary_value(arguments, primary)
        return value is not None and glob_match(self.pattern, value)


def tool_matches(rule_tool: str, tool: str) -> bool:
    """Whether a rule's tool part names `tool`: exactly, `*`, a glob (`mcp__github__*`), or an
    MCP server (`mcp__github` names every `mcp__github__...` tool)."""
    if rule_tool in ("*", tool):
        return True
    if "*" in rule_tool:
        return fnmatch.fnmatchcase(tool, rule_tool)
    is_server = rule_tool.startswith("mcp__") and "__" not in rule_tool[len("mcp__") :]
    return is_server and tool.startswith(rule_tool + "__")


def primary_value(arguments: dict[str, Any], primary: str | None = None) -> str | None:
    """The value a rule pattern is matched against: the tool's declared primary argument."""
    key = primary or next((k for k in _PRIMARY_GUESSES if k in arguments), None)
    if key is None:
        return None
    value = arguments.get(key)
    if value is None and key == "path":
        value = "."
    return None if value is None else str(value).strip()


def glob_escape(text: str) -> str:
    """A pattern that matches `text` and nothing else: `*`, `?` and `[` in brackets."""
    return "".join(f"[{c}]" if c in _GLOB_CHARS else c for c in text)


def literal_text(pattern: str) -> str | None:
    """The one text a pattern without wildcards matches (escapes undone); None for a glob."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith(_ESCAPES, i):
            out.append(pattern[i + 1])
            i += 3
        elif pattern[i] in _GLOB_CHARS:
            return None
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def glob_match(pattern: str, value: str) -> bool:
    """Shell-style match. A pattern with `/` or `**` is a path pattern: `**` crosses
    directories, `*` stays within one. Any other pattern (commands) lets `*` match anything.
    A pattern without wildcards matches only its own text (`./` in front aside)."""
    literal = literal_text(pattern)
    if literal is not None:
        return value == literal or _drop_dot_slash(value) == _drop_dot_slash(literal)
    if "/" not in pattern and "**" not in pattern:
        return fnmatch.fnmatchcase(value, pattern)
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex, _strip_dot_slash(value)) is not None


def _drop_dot_slash(text: str) -> str:
    while text.startswith("./"):
        text = text[2:]
    return text


def _strip_dot_slash(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path
