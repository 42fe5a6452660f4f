"""What a task may say: the rules a task file must meet before the host writes or runs anything.

A task (a folder, or inline JSON/YAML) is data someone else wrote. Its names become paths on
this machine and its numbers become timeouts, so both are checked first:

- a task's ``name`` is a plain name (letters, digits, ``.``, ``_``, ``-``; no ``..``);
- every file an inline task names is relative and stays inside its folder;
- a task folder's links stay inside the part of the task they belong to (``environment/``,
  ``tests/``, ``solution/``), so copying them can never bring in a file from elsewhere;
- every number in task.toml is finite, not a boolean, and inside the range in :data:`CEILINGS`
  (any other number: inside :data:`OTHER_NUMBERS`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from claw_nb.errors import TaskError
from claw_nb.untrusted import UntrustedPathRefused, confined_path, walk_untrusted

# (table, key) -> (lowest, highest) allowed; seconds unless the key says otherwise.
CEILINGS: dict[tuple[str, str], tuple[float, float]] = {
    ("agent", "timeout_sec"): (1.0, 86_400.0),  # a day
    ("verifier", "timeout_sec"): (1.0, 3_600.0),  # an hour
    ("environment", "build_timeout_sec"): (1.0, 86_400.0),
    ("environment", "cpus"): (1.0, 256.0),
    ("environment", "memory_mb"): (1.0, 1_048_576.0),  # 1 TiB
    ("environment", "storage_mb"): (1.0, 1_048_576.0),
}
OTHER_NUMBERS = (0.0, 1_000_000_000.0)  # any other number task.toml carries (Harbor's metadata)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
TASK_PARTS = ("environment", "tests", "solution")


def check_name(name: Any) -> str:
    """`name` if it is a plain task name, else `TaskError` (it becomes a folder name)."""
    text = name if isinstance(name, str) else ""
    if not _NAME.fullmatch(text) or ".." in text:
        raise TaskError(
            f"task name {name!r} is not a plain name: use letters, digits, '.', '_' and '-' "
            "(at most 100, no '..', no '/')"
        )
    return text


def check_relative(path: Any, what: str) -> str:
    """`path` as a relative POSIX path that stays inside its folder, else `TaskError`."""
    text = path if isinstance(path, str) else ""
    parts = PurePosixPath(text).parts
    if (
        not text
        or "\\" in text
        or "\0" in text
        or text.startswith(("/", "~"))
        or any(p in ("..", ".") for p in text.split("/"))
        or not parts
    ):
        raise TaskError(
            f"{what} {path!r} must be a relative path inside the task (no leading '/' or '~', "
            "no '..', no '\\')"
        )
    return "/".join(parts)


def check_number(value: Any, key: str, allowed: tuple[float, float] | None = None) -> float:
    """`value` as a finite float inside `allowed` (or :data:`OTHER_NUMBERS`), else `TaskError`
    naming `key` and the range."""
    lo, hi = allowed or OTHER_NUMBERS
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = float(value) if ok else math.nan
    if not (ok and math.isfinite(number) and lo <= number <= hi):
        raise TaskError(f"{key} = {value!r}: give a number from {lo:g} to {hi:g}")
    return number


def check_config(config: Mapping[str, Any], where: str) -> None:
    """Every number in a parsed task.toml against :data:`CEILINGS`; `TaskError` names the key."""

    def visit(value: Any, keys: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(v, (*keys, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, (*keys, str(i)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            check_number(value, f"{where}: {'.'.join(keys)}", CEILINGS.get(keys[-2:]))

    visit(config, ())
    for table, key in CEILINGS:
        value = config.get(table, {})
        if isinstance(value, Mapping) and key in value:  # a string or boolean is refused too
            check_number(value[key], f"{where}: {table}.{key}", CEILINGS[(table, key)])


def check_links(task_dir: Path) -> None:
    """`TaskError` when a link in the task leads outside the part of the task it is in."""
    for part in TASK_PARTS:
        top = task_dir / part
        if not top.is_symlink() and not top.exists():
            continue
        try:
            confined_path(task_dir, part, hidden=())
            if top.is_symlink():
                raise UntrustedPathRefused(f"{part} is a link; a task's {part}/ must be a folder")
            if not top.is_dir():
                continue
            for rel, kind in walk_untrusted(top):
                if kind == "link":
                    confined_path(top, rel, hidden=())
                elif kind == "other":
                    raise UntrustedPathRefused(f"{rel} is not a file, folder or link")
        except UntrustedPathRefused as exc:
            raise TaskError(
                f"task {task_dir.name}: {part}/: {exc}; a task's links must stay inside it"
            ) from None
