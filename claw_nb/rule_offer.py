"""What "Always allow" offers: the narrowest rule that covers the call a person was shown.

A person who approves `python -m pytest -q test_stats.py` for good means "run the tests", not
"run any Python": so an interpreter or a runner is narrowed to its module or subcommand
(`python -m pytest *`, `npm run test *`, `uv run pytest *`, `git status *`), and code given on
the line or in a script (`python -c ...`, `python script.py`, `node x.js`, `bash x.sh`) is
offered only as the exact command. A compound line (`&&`, `;`, pipes, redirections) is offered
as its exact text, never a wildcard; a line the rules cannot read (`$(...)`) gets no rule. An
edit is offered for its file, kernel code for its exact text, an MCP tool as the tool.

The policy (`claw_nb.permissions`) shows the offer before the answer and adds exactly it.
"""

from __future__ import annotations

import re
from typing import Any

from claw_nb.command_line import Unparsable, plain_words, split_commands
from claw_nb.permission_rules import Rule, glob_escape, primary_value

# Programs that run code given on their line or in a file: offered only as the exact command
# (python's `-m MODULE` is narrowed to the module, below).
INTERPRETERS = {
    "node", "nodejs", "deno", "ruby", "irb", "perl", "php", "lua", "luajit", "Rscript", "R",
    "julia", "tclsh", "wish", "osascript", "pwsh", "powershell", "awk", "gawk", "mawk", "nawk",
    "sed", "ipython", "jshell", "groovy", "scala", "swift", "ghci", "runghc", "runhaskell",
    "elixir", "iex", "erl", "guile", "racket", "sbcl", "clojure", "java", "kotlin", "expect",
    "fish", "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "env", "command", "builtin",
    "exec", "nohup", "time", "nice", "sudo", "doas", "xargs", "timeout", "stdbuf", "setsid",
    "chroot", "ionice", "eval", "source", ".", "watch", "parallel", "script", "sqlite3",
    "duckdb", "psql", "mysql", "gdb", "lldb", "strace", "ltrace", "valgrind", "perf", "py",
}  # fmt: skip
# Programs whose every use is its own decision: offered only as the exact command.
EXACT_ONLY = {
    "rm", "rmdir", "mv", "dd", "shred", "truncate", "chmod", "chown", "chgrp", "ln", "kill",
    "pkill", "killall", "curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "socat",
    "telnet", "ftp", "crontab", "at", "install", "mkfs", "mount", "umount", "tee", "open",
    "xdg-open", "systemctl", "service", "reboot", "shutdown",
}  # fmt: skip
# Programs whose first word is a subcommand: `git status` -> `git status *`.
SUBCOMMAND_TOOLS = {
    "git", "npm", "pnpm", "yarn", "bun", "deno", "cargo", "go", "uv", "poetry", "pip", "pip3",
    "conda", "mamba", "micromamba", "pixi", "hatch", "pdm", "pipenv", "rye", "make", "just",
    "docker", "podman", "kubectl", "gh", "dotnet", "mvn", "gradle", "tox", "nox", "cmake",
    "jupyter", "brew", "apt", "apt-get", "rustup", "gem", "bundle", "rake", "composer", "mix",
    "stack", "cabal", "terraform", "helm", "ruff", "pre-commit", "hg", "svn", "invoke",
}  # fmt: skip
# Subcommands that run code named on their line, or change what later commands run.
CODE_SUBCOMMANDS = {
    "git": {"submodule", "bisect", "rebase", "filter-branch", "config", "difftool",
            "mergetool", "daemon", "alias", "-c"},
    "docker": {"run", "exec", "compose", "build"},
    "podman": {"run", "exec", "build"},
    "kubectl": {"exec", "run", "debug", "apply", "create"},
    "deno": {"eval", "repl"},
    "bun": {"x", "repl"},
    "go": {"generate"},
    "conda": {"run"},
    "mamba": {"run"},
    "micromamba": {"run"},
    "gh": {"api", "extension"},
    "tox": {"exec"},
    "jupyter": {"execute", "run", "console", "kernel", "nbconvert", "lab", "notebook", "server"},
}  # fmt: skip
# (program, subcommand) that name a script or target next: `npm run test` -> `npm run test *`.
NAMED_SUBCOMMANDS = {
    ("npm", "run"), ("npm", "run-script"), ("pnpm", "run"), ("yarn", "run"), ("bun", "run"),
    ("deno", "task"), ("cargo", "run"), ("go", "run"), ("just", "run"), ("uv", "pip"),
    ("uv", "tool"), ("conda", "env"),
}  # fmt: skip
# Prefixes that run the command after them: narrowed like that command (`uv run pytest *`).
RUNNERS = {
    ("npx",), ("bunx",), ("uvx",), ("pnpx",), ("uv", "run"), ("uv", "tool", "run"),
    ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"), ("rye", "run"), ("pixi", "run"),
    ("bundle", "exec"), ("pnpm", "exec"), ("pnpm", "dlx"), ("yarn", "dlx"), ("yarn", "exec"),
    ("npm", "exec"), ("hatch", "run"),
}  # fmt: skip
# Python modules that run code given to them.
CODE_MODULES = {
    "timeit", "code", "runpy", "pdb", "trace", "cProfile", "profile", "IPython", "idlelib",
    "py_compile", "compileall", "doctest", "pydoc", "http.server", "venv", "ensurepip",
}  # fmt: skip
_PYTHON = re.compile(r"^(?:python|pypy)[0-9.]*$")
_PLAIN_WORD = re.compile(r"^[\w@.+:=,%-]+$")  # a word a pattern may name (no glob, no path)
_FILE_LIKE = re.compile(r"\.[A-Za-z]\w*$")  # x.py, main.go: a script, offered exactly


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
    if not words or not _PLAIN_WORD.match(words[0]) or "=" in words[0]:
        return None  # a program by path, a variable assignment
    program = words[0]
    for prefix in RUNNERS:
        if tuple(words[: len(prefix)]) == prefix:
            inner = words[len(prefix) :]
            narrowed = _narrow(inner) if inner and not inner[0].startswith("-") else None
            return None if narrowed is None else " ".join(prefix) + " " + narrowed
    if _PYTHON.match(program):
        if (
            len(words) >= 3
            and words[1] == "-m"
            and _PLAIN_WORD.match(words[2])
            and words[2] not in CODE_MODULES
        ):
            narrowed = _narrow(words[2:])
            return None if narrowed is None else f"{program} -m {narrowed}"
        return None
    if program in INTERPRETERS or program in EXACT_ONLY:
        return None
    if program in SUBCOMMAND_TOOLS:
        sub = words[1] if len(words) > 1 else ""
        if not _named(sub) or sub in CODE_SUBCOMMANDS.get(program, ()):
            return None
        if (program, sub) in NAMED_SUBCOMMANDS:
            name = words[2] if len(words) > 2 else ""
            return f"{program} {sub} {name} *" if _named(name) else None
        return f"{program} {sub} *"
    return f"{program} *"


def _named(word: str) -> bool:
    """A subcommand, script or module name a pattern may carry (not an option, not a file)."""
    return (
        bool(_PLAIN_WORD.match(word)) and not word.startswith("-") and not _FILE_LIKE.search(word)
    )
