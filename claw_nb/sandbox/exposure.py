"""What a command sees of the user: its environment, and which host paths are hidden.

A variable is dropped when its *name* looks like it holds a credential (it contains KEY, TOKEN,
SECRET, PASSWORD, JWT, SESSION, ... ends in ``_PWD``, ``_PASS``, ``_DSN``, ... or starts with a
cloud/model-provider prefix such as ``AWS_``), or when its *value* looks like one (a URL with a
password in it, a well-known token format such as ``sk-...`` or ``ghp_...``). This is a
heuristic: names in the allow-list (``[sandbox] env_passthrough``, shell-style patterns
allowed) are always kept, and that allow-list is the real control (see docs/security.md).

Commands also get a plain terminal: ``NO_COLOR=1``, ``TERM=dumb``, and no ``FORCE_COLOR`` /
``CLICOLOR_FORCE`` / ``PY_COLORS`` (a kernel sets them; their escape codes only cost tokens).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import pwd
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from claw_nb.claw_dir import DEFAULT_DB
from claw_nb.realpaths import realpath
from claw_nb.sandbox.settings import SandboxSettings

# Substrings of a variable name (upper-cased) that mark it as secret.
SECRET_NAME_PARTS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",  # also SSH_AUTH_SOCK and XAUTHORITY: ways to act as the user elsewhere
    "PRIVATE",
    "COOKIE",
    "WEBHOOK",
    "JWT",
    "SIGNING",
    "SESSION",  # session ids and cookies; also DBUS_SESSION_BUS_ADDRESS
    "BEARER",
    "CONNECTION_STRING",
    "CONN_STR",
    "PGPASS",
    "SAS_URL",
)

# Suffixes (upper-cased) of secret-looking names that are too short to match anywhere.
SECRET_NAME_SUFFIXES = ("_PWD", "_PASS", "_PASSWD", "_PW", "_DSN", "_PAT", "_SALT", "_CERT")

# Prefixes (upper-cased) of variables dropped whatever their suffix.
SECRET_NAME_PREFIXES = (
    "AWS_",
    "AZURE_",
    "ARM_",
    "GCLOUD_",
    "CLOUDSDK_",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GH_",
    "GITHUB_TOKEN",
    "GITLAB_",
    "OPENAI_",
    "ANTHROPIC_",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "COHERE_",
    "MISTRAL_",
    "GROQ_",
    "TOGETHER_",
    "REPLICATE_",
    "DEEPSEEK_",
    "GEMINI_",
    "XAI_",
    "OPENROUTER_",
    "LITELLM_",
    "VAULT_",
    "DOCKER_",  # DOCKER_HOST can hand out root on the host
    "KUBECONFIG",
    "KRB5CCNAME",
    "GPG_",
    "DBUS_SESSION_BUS_ADDRESS",  # the session bus can start processes outside the sandbox
    "DATABASE_URL",
    "SENTRY_",
    "STRIPE_",
    "SLACK_",
    "TWILIO_",
    "SENDGRID_",
    "NPM_CONFIG_",
    "PIP_INDEX_URL",  # often carries a private index's credentials
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX",
    "NETLIFY_",
    "VERCEL_",
    "HEROKU_",
    "CLOUDFLARE_",
    "DIGITALOCEAN_",
    "SNOWFLAKE_",
    "DATABRICKS_",
    "WANDB_",
    "COMET_",
    "NEPTUNE_",
    "PINECONE_",
)

# Set for every command: no colour codes in the output (they cost tokens and confuse models).
PLAIN_TERMINAL = {"NO_COLOR": "1", "TERM": "dumb"}
# Removed from every command's environment: they force colour even into a pipe.
FORCE_COLOR_VARS = ("FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS", "PY_FORCE_COLOR")

# Values that look like credentials whatever the variable is called.
_SECRET_VALUE_RES = (
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE),  # scheme://user:pw@
    re.compile(
        r"^(sk-|sk_live_|rk_live_|ghp_|gho_|ghs_|ghu_|github_pat_|glpat-|xox[abprs]-|hf_|AIza)"
        r"[A-Za-z0-9_\-]{16,}"
    ),
    re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)


def is_secret_name(name: str) -> bool:
    """True if a variable called ``name`` probably holds a credential."""
    upper = name.upper()
    return (
        any(part in upper for part in SECRET_NAME_PARTS)
        or upper.startswith(SECRET_NAME_PREFIXES)
        or upper.endswith(SECRET_NAME_SUFFIXES)
    )


def is_secret_value(value: str) -> bool:
    """True if ``value`` looks like a credential (token format, URL with a password, key)."""
    return any(r.search(value) for r in _SECRET_VALUE_RES)


def _allowed(name: str, passthrough: Iterable[str]) -> bool:
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in passthrough)


def scrub_env(
    env: Mapping[str, str], passthrough: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """(the environment without secrets, the sorted names that were removed)."""
    allow = tuple(passthrough)
    clean: dict[str, str] = {}
    removed: list[str] = []
    for name, value in env.items():
        if not _allowed(name, allow) and (is_secret_name(name) or is_secret_value(value)):
            removed.append(name)
        else:
            clean[name] = value
    return clean, sorted(removed)


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


def command_env(settings: SandboxSettings, extra: Mapping[str, str] | None = None) -> dict:
    """The environment a command runs with: the scrubbed one, a plain terminal, ``extra``.
    Worked out from this process's environment at the moment (the last one is remembered:
    its regular expressions cost ~2 ms a command on a loaded machine)."""
    key = (tuple(os.environ.items()), settings.env_passthrough)
    with _env_lock:
        cached = _env_cache.get(key)
    if cached is None:
        cached, _removed = scrub_env(dict(key[0]), settings.env_passthrough)
        for name in FORCE_COLOR_VARS:
            if not _allowed(name, settings.env_passthrough):
                cached.pop(name, None)
        cached.update(PLAIN_TERMINAL)
        with _env_lock:
            _env_cache.clear()
            _env_cache[key] = cached
    env = dict(cached)
    if extra:
        env.update(extra)
    return env


_env_cache: dict[tuple, dict[str, str]] = {}
_env_lock = threading.Lock()


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
