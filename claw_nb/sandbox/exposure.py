"""Which host paths a command must not see: home secrets, kernel connection files, system
secrets, claw_nb's own journals, settings and log databases, each resolved at the moment of
use (its environment is `claw_nb.sandbox.environment`'s)."""

from __future__ import annotations

import glob
import os
import pwd
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from claw_nb.claw_dir import DEFAULT_DB
from claw_nb.realpaths import realpath

# Secrets under a home directory, hidden inside the sandbox (relative to $HOME).
HOME_SECRETS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".config/op",
    ".config/rclone",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".yarnrc",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".terraform.d",
    ".vault-token",
    ".password-store",
    ".local/share/keyrings",
    ".pgpass",
    ".my.cnf",
    ".s3cfg",
    ".boto",
    ".databrickscfg",
    ".kaggle",
    ".huggingface",
    ".cache/huggingface/token",
    ".local/share/jupyter/runtime",  # kernel connection files: their keys run code in kernels
    ".ipython/profile_default/history.sqlite",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
)

# Host files readable by uid 0 even without capabilities (they are owned by root).
SYSTEM_SECRETS = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_*_key",
    "/etc/ssl/private",
)

# Directories under /run kept visible (read-only) over the private /run: DNS configuration.
RUN_KEEP = ("/run/systemd/resolve", "/run/resolvconf")


def homes() -> list[Path]:
    homes = []
    for h in (os.environ.get("HOME"), _passwd_home()):
        if h and os.path.isabs(h):
            p = Path(realpath(h))
            if p not in homes and p != Path("/"):
                homes.append(p)
    return homes


def _passwd_home() -> str | None:
    """The user's home in the password database (remembered per user: the lookup reads
    /etc/nsswitch.conf and /etc/passwd, and a session sandbox asks before every command)."""
    uid = os.getuid()
    if uid not in _passwd_homes:
        try:
            _passwd_homes[uid] = pwd.getpwuid(uid).pw_dir
        except KeyError:
            return None
    return _passwd_homes[uid]


_passwd_homes: dict[int, str] = {}


def expand_entry(entry: str, workspace: Path) -> list[Path]:
    """Absolute, symlink-resolved existing paths for a settings entry (~, globs, relative)."""
    raw = os.path.expanduser(entry)
    if not os.path.isabs(raw):
        raw = os.path.join(workspace, raw)
    matches = glob.glob(raw) if glob.has_magic(raw) else [raw]
    out = []
    for m in matches:
        if os.path.lexists(m):
            out.append(Path(realpath(m)))
    return out


def is_within(path: Path, parent: Path) -> bool:
    """By string (both absolute, normalised by `Path`): `parent in path.parents` makes a
    `Path` per parent, and a session sandbox's plan asks it per mask before every command."""
    p, r = str(path), str(parent)
    return p == r or p.startswith(r if r.endswith("/") else r + "/")


def interpreter_dirs() -> list[Path]:
    """The running interpreter's prefixes (venv and base install) and the active venv: the
    agent's `python` inside the sandbox must be the same one."""
    out: list[Path] = []
    candidates = [sys.prefix, sys.base_prefix, os.environ.get("VIRTUAL_ENV")]
    if sys.executable:
        candidates.append(os.path.dirname(os.path.dirname(realpath(sys.executable))))
    for raw in candidates:
        if raw and os.path.isabs(raw) and os.path.isdir(raw):
            p = Path(realpath(raw))
            if p not in out and p != Path("/"):
                out.append(p)
    return out


def claw_private_dirs() -> list[Path]:
    """claw_nb's own state that commands must neither read nor write: the event journals,
    which ingest trusts as the record of what happened, and the user's settings folder (the
    approvals of MCP servers and hooks)."""
    from claw_nb.log.journal_paths import journal_root  # standard library only, cheap
    from claw_nb.user_dirs import config_dir  # standard library only, cheap

    return [journal_root(), config_dir()]


def log_databases(workspace: Path | None = None) -> list[Path]:
    """Every claw_nb log database this user has written (each journal folder names its own),
    and the workspace's default one: they hold what the journals hold, so commands never read
    them. A database's write-ahead file goes with it."""
    return [Path(p) for p in log_database_paths(workspace)]


def log_database_paths(workspace: Path | None = None) -> list[str]:
    """:func:`log_databases` as strings: the sandbox asks before every command, and a user of
    the tests may have hundreds of them."""
    from claw_nb.log.database_index import forget_missing, listed_databases

    listed = listed_databases()
    alive: list[str] = []
    out: dict[str, None] = {}
    own = [os.path.join(realpath(workspace), DEFAULT_DB)] if workspace is not None else []
    for db in [*listed, *own]:
        real = real_path(db)  # one look per database: the index's own check would be another
        if real is None:
            continue
        if db not in own:
            alive.append(db)
        wal = db + ".wal"
        for p in (real, real_path(wal) if os.path.lexists(wal) else None):
            if p is not None and p != "/":
                out[p] = None
    forget_missing(listed, alive)
    return list(out)


class DatabaseMasks:
    """The log databases a runner's sandboxes hide, resolved again only when the index
    changes (a session sandbox works out its plan before every command, and a user of the
    tests may have hundreds of databases, ~0.1 ms each on a loaded machine).

    Why that is as safe as resolving each one before every command: the index holds each
    database's real path from when it was opened, and is written again when one is opened at
    a new real path. A symlink changed since moves no data: a mask on the real path still
    covers it (bubblewrap follows the path when it mounts, and a mount follows its file when
    it is renamed). A file deleted since needs no mask (``mounts`` drops masks of paths that
    are gone; a session sandbox whose mask went stale starts again, by the identity check).
    The workspace's own database, which a command may reach, is resolved every time, and the
    write-ahead file of every database a command could see is looked for every time (DuckDB
    makes and removes it as it writes)."""

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._resolved: list[tuple[str, str]] = []  # (path in the index, its real path)
        # those a command could see, for the index state and the visibility (``visible.key``)
        self._seen: tuple[tuple, list[tuple[str, str]]] | None = None

    def paths(self, workspace: Path | None, visible: Callable[[str], bool]) -> list[str]:
        """Real paths of the databases (and write-ahead files) that ``visible`` says a
        command could see."""
        from claw_nb.log.database_index import forget_missing, index_state, listed_databases

        state = index_state()
        if state is None or state != self._state:
            listed = listed_databases()
            resolved = [(db, real_path(db)) for db in listed]
            self._resolved = [(db, real) for db, real in resolved if real is not None]
            forget_missing(listed, [db for db, _ in self._resolved])
            self._state = state  # the state read before the list: a change since shows next time
        # in a private folder of the sandbox: hidden, and out of reach (asked again only when
        # the index or what the sandbox makes private changes: hundreds of them, each command)
        key = (state, getattr(visible, "key", None))
        if None not in key and self._seen is not None and self._seen[0] == key:
            pairs = list(self._seen[1])
        else:
            pairs = [(db, real) for db, real in self._resolved if real != "/" and visible(real)]
            self._seen = (key, list(pairs))
        if workspace is not None:
            own = os.path.join(realpath(workspace), DEFAULT_DB)
            real = real_path(own)
            if real is not None and real != "/" and visible(real):
                pairs.append((own, real))
        out: dict[str, None] = {}
        for db, real in pairs:
            out[real] = None
            wal = db + ".wal"
            if os.path.lexists(wal):
                real_wal = real_path(wal)
                if real_wal is not None and real_wal != "/":
                    out[real_wal] = None
        return list(out)


def real_path(path: str) -> str | None:
    """``os.path.realpath(path)`` of a path that exists (a dangling link included), else None.

    Asked of the kernel (open ``O_PATH``, read the descriptor's link): a session sandbox works
    out its hidden paths before every command, and ``realpath`` walks each component in
    Python, ~0.1 ms a path, for hundreds of log databases a user may have."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return os.path.realpath(path) if os.path.lexists(path) else None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = ""
    finally:
        os.close(fd)
    return real if real.startswith("/") else os.path.realpath(path)


def secret_paths(workspace: Path | None = None) -> list[Path]:
    """The existing host paths a command must not see: home secrets, kernel connection files,
    system secrets, claw_nb's journals and log databases (resolved; `hide` not included)."""
    return [Path(p) for p in secret_path_strings(workspace)]


def secret_path_strings(workspace: Path | None = None, databases: bool = True) -> list[str]:
    """:func:`secret_paths` as strings, each once, without ``/``; ``databases=False`` leaves
    the log databases out (a runner asks its :class:`DatabaseMasks`)."""
    entries: list[str] = []
    for home in homes():
        here = str(home).rstrip("/")
        try:  # one listing, not a look per secret's top folder (casefolded: a home on a
            # case-insensitive file system lists `.SSH` and opens `.ssh`)
            present = {name.casefold() for name in os.listdir(here)}
        except OSError:
            present = None
        for rel in HOME_SECRETS:
            if present is not None and rel.partition("/")[0].casefold() not in present:
                continue
            p = f"{here}/{rel}"
            if os.path.lexists(p):
                entries.append(realpath(p))
    entries += [str(p) for p in jupyter_runtime_dirs() if p.exists()]
    entries += [str(p) for p in claw_private_dirs() if p.exists()]
    if databases:
        entries += log_database_paths(workspace)
    for pattern in SYSTEM_SECRETS:
        if glob.has_magic(pattern):
            entries += glob.glob(pattern)
        elif os.path.lexists(pattern):
            entries.append(pattern)
    return [p for p in dict.fromkeys(entries) if p != "/"]


def unique_paths(paths: Iterable[Path]) -> list[Path]:
    """``paths`` in order, each once, without ``/``. By string: comparing Path objects pairwise
    cost ~25 ms a command once a user had logged into ~80 databases."""
    seen = {"/"}
    out: list[Path] = []
    for p in paths:
        key = str(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def jupyter_runtime_dirs() -> list[Path]:
    out = []
    runtime = os.environ.get("JUPYTER_RUNTIME_DIR")
    if runtime:
        out.append(Path(runtime))
    data = os.environ.get("JUPYTER_DATA_DIR")
    if data:
        out.append(Path(data) / "runtime")
    return out
