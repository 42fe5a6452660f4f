"""Candidates (component name -> text) and the lab variants that run them.

Components: `system_prompt` (the template) and `tool:NAME` (one tool's description).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from claw_nb.errors import ConfigError

SYSTEM_PROMPT = "system_prompt"
TOOL_PREFIX = "tool:"


def candidate_id(candidate: Mapping[str, str]) -> str:
    """A short stable id of a candidate's texts (its variant name in the trials table)."""
    blob = json.dumps(dict(sorted(candidate.items())), ensure_ascii=False)
    return "c" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:10]


def seed_candidate(seed: Any, components: Sequence[str]) -> dict[str, str]:
    """The seed variant's texts for the components to optimize (defaults filled in)."""
    from claw_nb.prompts import template_text
    from claw_nb.tools import default_tools

    tools = default_tools()
    out: dict[str, str] = {}
    for component in components:
        if component == SYSTEM_PROMPT:
            out[component] = seed.system_prompt or template_text("default")
        elif component.startswith(TOOL_PREFIX):
            name = component[len(TOOL_PREFIX) :]
            override = dict(seed.tool_descriptions or {}).get(name)
            tool = tools.get(name)
            if override is None and tool is None:
                raise ConfigError(f"unknown tool '{name}'; known: {', '.join(tools.names())}")
            out[component] = override if override is not None else tool.description
        else:
            raise ConfigError(
                f"unknown component '{component}': use '{SYSTEM_PROMPT}' or 'tool:NAME'"
            )
    return out


def candidate_variant(seed: Any, candidate: Mapping[str, str], name: str | None = None) -> Any:
    """The seed variant with the candidate's texts in place."""
    descriptions = dict(seed.tool_descriptions or {})
    system_prompt = seed.system_prompt
    for component, text in candidate.items():
        if component == SYSTEM_PROMPT:
            system_prompt = text
        elif component.startswith(TOOL_PREFIX):
            descriptions[component[len(TOOL_PREFIX) :]] = text
    return dataclasses.replace(
        seed,
        name=name or candidate_id(candidate),
        system_prompt=system_prompt,
        tool_descriptions=descriptions,
    )
