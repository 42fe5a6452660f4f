"""An error as the terminal says it: the settings it names (`claw_nb.errors.Fix`) become the
terminal's way to change them, a flag or an environment variable."""

from __future__ import annotations

from collections.abc import Iterable

from claw_nb.errors import ClawError, say_fixes

#: How a terminal user changes each setting an error can name.
CLI_FIXES = {
    "model": "name a model with --model NAME or CLAW_MODEL (`claw-nb models` shows what this "
    "machine has)",
    "api_base": "point at your server with --api-base URL or CLAW_API_BASE",
    "api_key": "give the key with --api-key KEY or CLAW_API_KEY",
}


def fix_hint(fixes: Iterable[str]) -> str:
    """'; name a model with --model ...' for the settings named, '' for none."""
    return say_fixes(fixes, CLI_FIXES)


def error_line(exc: ClawError) -> str:
    """'claw-nb: what happened; how to fix it', on one line."""
    return "claw-nb: " + " ".join(str(exc).split()) + fix_hint(exc.fixes)
