"""Which files in a workspace widen what the agent may do later, decided on resolved paths.

`.claw/` holds the settings that choose the sandbox, the permission rules and the user's hooks;
`.claude/` holds Claude Code's settings, whose hooks claw_nb runs too (on the host); the git metadata
(whatever `.git` resolves to, a directory, a `gitdir:` file or a symlink) holds hooks and
`core.fsmonitor`, which run on the host at the user's next `git status`; `.mcp.json` names MCP
servers, programs that start on the host (once the user approves them). The permission policy
asks before writes there and the file tools refuse to reach them through a symlink, so a check
made on one spelling of a path (`sub/../.claw/settings.toml`, a link, a hard link) cannot be
dodged with another.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from claw_nb.claw_dir import CLAW_DIR, SETTINGS_FILE
from claw_nb.realpaths import realpath
from claw_nb.untrusted import read_regular_file

SETTINGS = SETTINGS_FILE.parts
MCP_SERVERS_FILE = ".mcp.json"  # Claude Code's project MCP servers (claw_nb.mcp.specs)
CLAUDE_DIR = ".claude"  # Claude Code's settings: their hooks run on the host (claw_nb.hooks)
PROTECTED_DIRS = (".git", CLAW_DIR, CLAUDE_DIR)


def lexical_path(workspace: Path | str, path: str) -> Path:
    """`path` made absolute against the workspace with `..` and `.` collapsed, links untouched."""
    given = Path(path)
    return Path(os.path.normpath(given if given.is_absolute() else Path(workspace) / given))


def resolved_path(workspace: Path | str, path: str) -> Path:
    """`path` with every symlink followed (dangling ones as far as they go)."""
    return Path(realpath(lexical_path(workspace, path)))


def git_dirs(workspace: Path | str) -> list[Path]:
    """Where the workspace's git metadata really lives: `.git` itself, what a `.git` symlink or a
    `gitdir:` file points to, and a `commondir` it names."""
    return [Path(p) for p in _git_dirs(realpath(workspace))]


def _git_dirs(root: str) -> list[str]:
    """`git_dirs` of a resolved workspace, as strings (a write's check runs twice a call)."""
    dot_git = os.path.join(root, ".git")
    found = [dot_git]
    if not os.path.lexists(dot_git):
        return found  # no metadata (a `commondir` needs a `.git` to name it)
    try:
        try:
            mode = os.stat(dot_git).st_mode  # through a link, as `Path.is_file` looks
        except OSError:
            mode = 0  # a dangling link
        if stat.S_ISREG(mode):
            text = (read_regular_file(realpath(dot_git), max_bytes=4096) or b"").decode(
                "utf-8", "replace"
            )
            text = text.strip()
            if text.startswith("gitdir:"):
                target = text[len("gitdir:") :].strip()
                found.append(realpath(os.path.join(root, target)))
        elif os.path.islink(dot_git) or stat.S_ISDIR(mode):
            found.append(realpath(dot_git))
        for base in list(found):
            data = read_regular_file(os.path.join(base, "commondir"), max_bytes=4096)
            if data is not None:
                target = data.decode("utf-8", "replace").strip()
                found.append(realpath(os.path.join(base, target)))
    except OSError:
        pass
    return list(dict.fromkeys(found))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith("/") else root + "/")


def protection_reason(workspace: Path | str, path: str) -> str | None:
    """Why a write to `path` needs a person's yes (None: it does not), on every spelling of it:
    the lexical path, the path with links followed, and an existing file's other hard links.
    On strings: the policy asks it twice an edit (before a precheck, then to decide)."""
    root = realpath(workspace)
    given = os.fspath(path)
    lexical = os.path.normpath(given if os.path.isabs(given) else os.path.join(root, given))
    try:
        real = realpath(lexical)
    except OSError:  # a link that vanished while it was followed: decide nothing silently
        return "the path changed while it was being checked"
    settings = os.path.join(root, *SETTINGS)
    if settings in (lexical, real) or _same_file(real, settings):
        return "the settings file decides the sandbox and permissions"
    servers = os.path.join(root, MCP_SERVERS_FILE)
    if servers in (lexical, real) or _same_file(real, servers):
        return "the MCP server list names programs that run on your machine"
    for candidate in (lexical, real):
        if candidate != root and _within(candidate, root):
            parts = candidate[len(root) :].strip("/").split("/")
            if any(part in PROTECTED_DIRS for part in parts):
                return (
                    "writes under .git/, .claw/ or .claude/ change what runs on your machine later"
                )
    if any(_within(real, d) or _within(lexical, d) for d in _git_dirs(root)):
        return "this is git metadata (hooks and config run on your machine)"
    try:
        st = os.stat(real)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            return "the file has several hard links: it may be a protected file under another name"
    except OSError:
        pass
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
