"""A sweep's variants: the base, then one per point of a settings grid and per on/off pattern
of its switches (prompt fragments, tools dropped or added), each named by what it changes."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from claw_nb.errors import ConfigError

SWEEP_SETTINGS = (
    "model",
    "temperature",
    "max_steps",
    "max_tool_result_chars",
    "context_window",
    "descriptions",
)
DESCRIPTION_LENGTHS = ("full", "short")
"""`descriptions=short`: every tool described by the first sentence of its description."""
SHORT = {
    "temperature": "temp",
    "max_steps": "steps",
    "max_tool_result_chars": "cap",
    "context_window": "ctx",
    "model": "model",
    "descriptions": "desc",
}


def with_fragments(template: str, fragments: Sequence[str]) -> str:
    """The template with fragments added before its `$memory` placeholder (or at the end)."""
    if not fragments:
        return template
    block = "\n".join(f.rstrip() for f in fragments) + "\n"
    if "$memory" in template:
        head, _, tail = template.rpartition("$memory")
        return f"{head.rstrip()}\n{block}$memory{tail}"
    return template.rstrip() + "\n" + block


def sweep_variants(
    base: Any,
    grid: Mapping[str, Sequence[Any]] | None = None,
    fragments: Mapping[str, str] | None = None,
    max_variants: int | None = None,
    *,
    drop_tools: Sequence[str] = (),
    add_tools: Sequence[str] = (),
) -> list[Any]:
    """The base variant, then one variant per point of the grid x switches on/off.

    Switches: each prompt fragment (added before `$memory`), each tool in `drop_tools` (taken
    away) and in `add_tools` (offered when the base does not). The grid may hold
    `descriptions=full,short`. With `max_variants`, refuses a larger sweep: the one check of a
    sweep's size (`sweep` and `lab optimize sweep` both pass their cap here)."""
    from claw_nb.prompts import template_text

    grid = dict(grid or {})
    unknown = set(grid) - set(SWEEP_SETTINGS)
    if unknown:
        raise ConfigError(f"cannot sweep {sorted(unknown)}; known: {', '.join(SWEEP_SETTINGS)}")
    bad = sorted({str(v) for v in grid.get("descriptions", ())} - set(DESCRIPTION_LENGTHS))
    if bad:
        raise ConfigError(f"descriptions={','.join(bad)}: use {' or '.join(DESCRIPTION_LENGTHS)}")
    switches = _switches(base, fragments or {}, drop_tools, add_tools)
    keys = list(grid)
    template = base.system_prompt or template_text("default")
    out = [base]
    seen = {_signature(base)}
    for values in itertools.product(*(grid[k] for k in keys)):
        for pattern in itertools.product([False, True], repeat=len(switches)):
            on = [switch for switch, flag in zip(switches, pattern) if flag]
            changes = dict(zip(keys, values))
            label = (
                " ".join([f"{SHORT[k]}={v}" for k, v in changes.items()] + [w[0] for w in on])
                or "base"
            )
            fragments_on = [w[2] for w in on if w[1] == "fragment"]
            prompt = with_fragments(template, fragments_on) if fragments_on else base.system_prompt
            variant = _with_changes(base, label, prompt, changes, on)
            if _signature(variant) in seen:
                continue
            seen.add(_signature(variant))
            out.append(variant)
    if max_variants is not None and len(out) > max_variants:
        raise ConfigError(
            f"the sweep has {len(out)} variants (cap {max_variants}): "
            "narrow the grid or raise the cap (max_variants, --max-variants)"
        )
    return out


def _switches(
    base: Any, fragments: Mapping[str, str], drop: Sequence[str], add: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(label, kind, payload) of every on/off switch of a sweep."""
    from claw_nb.tools import default_tools

    known = default_tools().names()
    offered = list(base.tools) if base.tools is not None else known
    for name in [*drop, *add]:
        if name not in known:
            raise ConfigError(f"unknown tool '{name}'; tools: {', '.join(known)}")
    for name in drop:
        if name not in offered:
            raise ConfigError(f"--drop-tool {name}: the base variant does not offer it")
    for name in add:
        if name in offered:
            raise ConfigError(f"--add-tool {name}: the base variant offers it already")
    return (
        [(f"+{n}", "fragment", text) for n, text in fragments.items()]
        + [(f"-{n}", "drop", n) for n in drop]
        + [(f"+{n}", "add", n) for n in add]
    )


def _with_changes(
    base: Any,
    label: str,
    prompt: str | None,
    changes: Mapping[str, Any],
    on: Sequence[tuple[str, str, str]],
) -> Any:
    """The base with a grid point's settings and the switches that are on."""
    from claw_nb.tools import default_tools

    settings = {k: v for k, v in changes.items() if k != "descriptions"}
    descriptions = dict(base.tool_descriptions or {})
    if changes.get("descriptions") == "short":
        for tool in default_tools():
            descriptions[tool.name] = short_description(
                descriptions.get(tool.name, tool.description)
            )
    tools = base.tools
    dropped = {w[2] for w in on if w[1] == "drop"}
    added = {w[2] for w in on if w[1] == "add"}
    if dropped or added:
        known = default_tools().names()
        offered = set(base.tools if base.tools is not None else known)
        tools = tuple(n for n in known if n in (offered - dropped) | added)
    return dataclasses.replace(
        base,
        name=label,
        system_prompt=prompt,
        tool_descriptions=descriptions,
        tools=tools,
        **settings,
    )


def short_description(text: str) -> str:
    """The first sentence of a tool description (its first line when no sentence ends there)."""
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    end = first_line.find(". ")
    return first_line[: end + 1] if end >= 0 else first_line


def _signature(variant: Any) -> tuple:
    return tuple(
        (f.name, repr(getattr(variant, f.name)))
        for f in dataclasses.fields(variant)
        if f.name != "name"
    )
