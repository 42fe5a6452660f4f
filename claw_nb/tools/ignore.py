"""Walking the workspace the way git sees it: the common subset of .gitignore rules, plus globs.

Supported: comments, blank lines, ``\\#``/``\\!`` escapes, negation ``!``, trailing ``/`` (directories
only), leading or inner ``/`` (anchored to the .gitignore's directory), ``*``, ``**``, ``?`` and
character classes (``[abc]``, ``[a-z]``, ``[!abc]``). ``.git/`` and ``.claw/`` are always skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ALWAYS_SKIPPED = frozenset({".git", ".claw"})


def _translate_class(pat: str, i: int) -> tuple[str, int] | None:
    """Translate a ``[...]`` class starting at ``pat[i] == '['``; None if it is not closed."""
    j = i + 1
    if j < len(pat) and pat[j] in "!^":
        j += 1
    if j < len(pat) and pat[j] == "]":
        j += 1
    while j < len(pat) and pat[j] != "]":
        j += 1
    if j >= len(pat):
        return None
    body = pat[i + 1 : j]
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    body = body.replace("\\", "\\\\")
    body = re.sub(r"([\^\[])", r"\\\1", body)
    return ("[^/" + body + "]" if negate else "[" + body + "]"), j + 1


def glob_to_regex(pat: str) -> str:
    """Translate a slash-separated glob (with ``**``) to a regex matching a whole relative path."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**", i):
                at_start = i == 0 or pat[i - 1] == "/"
                after = i + 2
                if at_start and after < n and pat[after] == "/":
                    out.append("(?:.*/)?")  # '**/' : zero or more directories
                    i = after + 1
                    continue
                if at_start and after == n:
                    out.append(".*")  # trailing '**': everything below
                    i = after
                    continue
                out.append("[^/]*")  # '**' not delimited by slashes acts like '*'
                i = after
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            translated = _translate_class(pat, i)
            if translated is None:
                out.append(re.escape(c))
            else:
                out.append(translated[0])
                i = translated[1]
                continue
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pat[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    base: str  # directory of the .gitignore, relative to the workspace ('' for the root)
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    anchored: bool


def parse_gitignore(text: str, base: str = "") -> list[Rule]:
    rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip("\n\r")
        if line.endswith("\\ "):
            line = line[:-2].rstrip(" ") + "\\ "
        else:
            line = line.rstrip(" \t")
        if not line or line.startswith("#"):
            continue
        negated = False
        if line.startswith("!"):
            negated, line = True, line[1:]
        elif line.startswith(("\\!", "\\#")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        if line.startswith("**/"):
            anchored = True  # '**/x' already matches at any depth
        rules.append(
            Rule(
                base=base,
                regex=re.compile(glob_to_regex(line) + r"\Z", re.DOTALL),
                negated=negated,
                dir_only=dir_only,
                anchored=anchored,
            )
        )
    return rules


class GitIgnore:
    """The .gitignore rules of a workspace, loaded lazily per directory."""

    def __init__(self, root: Path):
        self.root = root
        self._by_dir: dict[str, list[Rule]] = {}

    def _rules_for_dir(self, rel_dir: str) -> list[Rule]:
        if rel_dir not in self._by_dir:
            gi = self.root / rel_dir / ".gitignore" if rel_dir else self.root / ".gitignore"
            try:
                text = gi.read_text(encoding="utf-8", errors="replace") if gi.is_file() else ""
            except OSError:
                text = ""
            self._by_dir[rel_dir] = parse_gitignore(text, rel_dir)
        return self._by_dir[rel_dir]

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Whether ``rel_path`` (POSIX, relative to the root) is ignored by its own name/path.

        Ancestor directories are not checked here: walkers prune ignored directories instead.
        """
        parts = rel_path.split("/")
        if parts[0] in ALWAYS_SKIPPED or (is_dir and parts[-1] in ALWAYS_SKIPPED):
            return True
        ignored = False
        for depth in range(len(parts)):
            base = "/".join(parts[:depth])
            local = "/".join(parts[depth:])
            for rule in self._rules_for_dir(base):
                if rule.dir_only and not is_dir:
                    continue
                subject = local if rule.anchored else parts[-1]
                if rule.regex.match(subject):
                    ignored = not rule.negated
        return ignored


def walk_files(root: Path, start: Path, gitignore: GitIgnore | None = None) -> Iterator[Path]:
    """Yield files under ``start`` (inside ``root``), skipping ignored ones; not following
    directory symlinks. ``start`` itself is not checked against the ignore rules, so asking
    for an ignored directory explicitly still lists it."""
    gi = gitignore or GitIgnore(root)
    for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
        current = Path(dirpath)
        rel_dir = current.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kept = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in ALWAYS_SKIPPED or gi.is_ignored(rel, True):
                continue
            if (current / d).is_symlink():
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if gi.is_ignored(rel, False):
                continue
            yield current / name


class GlobMatcher:
    """Match paths relative to a search directory against a glob.

    A pattern without '/' matches the file name at any depth ('*.py'); one with '/' matches the
    whole relative path ('src/*.py', 'tests/**/test_*.py').
    """

    def __init__(self, pattern: str):
        pattern = pattern.strip() or "**/*"
        self.pattern = pattern
        self.by_name = "/" not in pattern
        self.regex = re.compile(glob_to_regex(pattern.lstrip("/")) + r"\Z", re.DOTALL)

    def matches(self, rel_path: str) -> bool:
        subject = rel_path.rsplit("/", 1)[-1] if self.by_name else rel_path
        return bool(self.regex.match(subject))
