"""An error as the notebook says it: one line, a sentence (no class name for errors claw_nb
raises on purpose), and the notebook's way to fix it (`%claw config ...`), chosen here from
the settings the error names (`claw_nb.errors.Fix`): the loop never words a shell's hint."""

from __future__ import annotations

from collections.abc import Iterable

from IPython.core.error import UsageError

from claw_nb.errors import ClawError, say_fixes

#: How a notebook user changes each setting an error can name.
NOTEBOOK_FIXES = {
    "model": "name a model with `%claw config model=NAME` (`%claw model --list` shows what "
    "this machine has)",
    "api_base": "point at your server with `%claw config api_base=URL`",
    "api_key": "give the key with `%claw config api_key=KEY`",
}


def fix_hint(fixes: Iterable[str]) -> str:
    """'; name a model with ...' for the settings named, '' for none."""
    return say_fixes(fixes, NOTEBOOK_FIXES)


def error_line(exc: BaseException) -> str:
    """The one line a cell shows for `exc`: 'claw: what happened; how to fix it'."""
    if isinstance(exc, UsageError):
        return str(exc)
    if isinstance(exc, ClawError):
        return f"claw: {one_line(exc)}{fix_hint(exc.fixes)}"
    return f"claw: {type(exc).__name__}: {one_line(exc)}"  # a bug: its type helps the report


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
