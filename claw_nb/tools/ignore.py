"""Walking the workspace the way git sees it: the common subset of .gitignore rules, plus globs.

Supported: comments, blank lines, ``\\#``/``\\!`` escapes, negation ``!``, trailing ``/`` (directories
only), leading or inner ``/`` (anchored to the .gitignore's directory), ``*``, ``**``, ``?`` and
character classes (``[abc]``, ``[a-z]``, ``[!abc]``). ``.git/`` and ``.claw/`` are always skipped.
Globs match in linear time (`claw_nb.tools.glob_match`): an ignore file is someone else's text.
An ignore file is read confined to the workspace (`claw_nb.untrusted`); one that is a link out
of it, or not a regular file, is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from claw_nb.records import record
from claw_nb.tools.glob_match import Glob, compile_glob
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

ALWAYS_SKIPPED = frozenset({".git", ".claw"})
MAX_IGNORE_FILE_BYTES = 1 << 20  # a larger .gitignore is read up to here


@record(frozen=True)
class Rule:
    base: str  # directory of the .gitignore, relative to the workspace ('' for the root)
    glob: Glob
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
                glob=compile_glob(line),
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
            self._by_dir[rel_dir] = parse_gitignore(self._read(rel_dir), rel_dir)
        return self._by_dir[rel_dir]

    def _read(self, rel_dir: str) -> str:
        """The directory's .gitignore text; '' when there is none, or it is refused."""
        relative = f"{rel_dir}/.gitignore" if rel_dir else ".gitignore"
        if not os.path.lexists(self.root / relative):
            return ""
        try:
            text = read_untrusted_text(self.root, relative, max_bytes=MAX_IGNORE_FILE_BYTES)
        except (UntrustedPathRefused, OSError):
            return ""  # a link out of the workspace, a FIFO, unreadable: no rules from it
        return text or ""

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
                if rule.glob.matches(subject):
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
        self.glob = compile_glob(pattern.lstrip("/"))

    def matches(self, rel_path: str) -> bool:
        subject = rel_path.rsplit("/", 1)[-1] if self.by_name else rel_path
        return self.glob.matches(subject)
