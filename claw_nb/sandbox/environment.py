"""What a command sees of the user's environment.

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
import os
import re
import threading
from collections.abc import Iterable, Mapping

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
