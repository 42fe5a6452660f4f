"""Removing secrets from the environment a command runs with.

A variable is dropped when its *name* looks like it holds a credential (it contains KEY, TOKEN,
SECRET, PASSWORD, ... or starts with a cloud/model-provider prefix such as ``AWS_``), or when its
*value* looks like one (a URL with a password in it, a well-known token format such as
``sk-...`` or ``ghp_...``). Names in the allow-list (``[sandbox] env_passthrough``, shell-style
patterns allowed) are always kept.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

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
)

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
)

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
    return any(part in upper for part in SECRET_NAME_PARTS) or upper.startswith(
        SECRET_NAME_PREFIXES
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
