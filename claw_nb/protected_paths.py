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
    root = Path(realpath(workspace))
    dot_git = root / ".git"
    found = [dot_git]
    try:
        if dot_git.is_file():
            text = (read_regular_file(realpath(dot_git), max_bytes=4096) or b"").decode(
                "utf-8", "replace"
            )
            text = text.strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                found.append(Path(realpath(target if target.is_absolute() else root / target)))
        elif dot_git.is_symlink() or dot_git.is_dir():
            found.append(Path(realpath(dot_git)))
        for base in list(found):
            common = base / "commondir"
            data = read_regular_file(common, max_bytes=4096)
            if data is not None:
                target = Path(data.decode("utf-8", "replace").strip())
                found.append(Path(realpath(target if target.is_absolute() else base / target)))
    except OSError:
        pass
    return list(dict.fromkeys(found))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def protection_reason(workspace: Path | str, path: str) -> str | None:
    """Why a write to `path` needs a person's yes (None: it does not), on every spelling of it:
    the lexical path, the path with links followed, and an existing file's other hard links."""
    root = Path(realpath(workspace))
    lexical = lexical_path(root, path)
    try:
        real = resolved_path(root, path)
    except OSError:  # a link that vanished while it was followed: decide nothing silently
        return "the path changed while it was being checked"
    settings = root.joinpath(*SETTINGS)
    if settings in (lexical, real) or _same_file(real, settings):
        return "the settings file decides the sandbox and permissions"
    servers = root / MCP_SERVERS_FILE
    if servers in (lexical, real) or _same_file(real, servers):
        return "the MCP server list names programs that run on your machine"
    for candidate in (lexical, real):
        try:
            parts = candidate.relative_to(root).parts
        except ValueError:
            parts = ()
        if any(part in PROTECTED_DIRS for part in parts):
            return "writes under .git/, .claw/ or .claude/ change what runs on your machine later"
    if any(_within(real, git_dir) or _within(lexical, git_dir) for git_dir in git_dirs(root)):
        return "this is git metadata (hooks and config run on your machine)"
    try:
        if real.is_file() and os.stat(real).st_nlink > 1:
            return "the file has several hard links: it may be a protected file under another name"
    except OSError:
        pass
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
