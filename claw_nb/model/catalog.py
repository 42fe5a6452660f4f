"""Context windows and prices of known models, without importing LiteLLM.

LiteLLM ships its model catalog as a JSON file; reading that file takes ~20 ms where importing
LiteLLM to call `get_model_info` takes seconds. The lookup tries the name as given, then without
its provider prefix (`openai/gpt-4o-mini` -> `gpt-4o-mini`).

Parsing the file (~3 MB, 4,000 models) costs ~0.1-0.2 s and ~20 MiB, so a name is first looked
for in its bytes: a local model's name is not there, and it is never parsed for one. It is
searched once for the end that every name shares (each search of 3 MB is ~1 ms). It is read,
not mapped: a mapped file shortened meanwhile (LiteLLM in a virtualenv the agent can write)
kills the process with SIGBUS at the next search.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

CATALOG_FILE = "model_prices_and_context_window_backup.json"
MAX_CATALOG_BYTES = 64 << 20  # ~3 MB today; a file past this is not read (nor held)


def _catalog_path() -> Path | None:
    spec = importlib.util.find_spec("litellm")  # finds the package without running it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / CATALOG_FILE
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _catalog_bytes() -> bytes:
    path = _catalog_path()
    if path is None:
        return b""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CATALOG_BYTES + 1)
    except OSError:
        return b""
    return data if len(data) <= MAX_CATALOG_BYTES else b""  # not LiteLLM's own file


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    try:
        data = json.loads(_catalog_bytes() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@functools.lru_cache(maxsize=1)
def _escapes_could_spell_a_name() -> bool:
    """Whether an escape in the file stands for a character a name may hold (``\\/``,
    ``\\uXXXX``); the catalog has only a few escapes, found with a fast byte search."""
    raw = _catalog_bytes()
    i = raw.find(b"\\")
    while i != -1:
        if raw[i + 1 : i + 2] in (b"/", b"u"):
            return True
        i = raw.find(b"\\", i + 2)  # past the escaped character (``\\\\`` is one escape)
    return False


@functools.lru_cache(maxsize=256)  # asked at every call (its price): scan the file once a name
def _may_list(name: str) -> bool:
    """False only when ``name`` is certainly no key of the catalog: its JSON string is nowhere
    in the file, and no escape in the file could spell it otherwise."""
    if any(c in name for c in '"\\') or not name.isprintable() or _escapes_could_spell_a_name():
        return True
    return f'"{name}"'.encode() in _catalog_bytes()


@functools.lru_cache(maxsize=256)
def _may_end_a_name(tail: str) -> bool:
    """False only when no key of the catalog ends with ``tail``: one search of the file
    answers for a model and its name without the provider prefix."""
    if any(c in tail for c in '"\\') or not tail.isprintable() or _escapes_could_spell_a_name():
        return True
    return f'{tail}"'.encode() in _catalog_bytes()


def model_info(model: str) -> dict[str, Any] | None:
    """The catalog entry for `model` (a LiteLLM model string), or None when unknown."""
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    if not _may_end_a_name(names[-1]):  # every name ends with the last one
        return None
    if not any(_may_list(name) for name in names):
        return None
    catalog = _catalog()
    for name in names:
        entry = catalog.get(name)
        if isinstance(entry, dict) and name != "sample_spec":
            return entry
    return None


def context_window(model: str) -> int | None:
    info = model_info(model) or {}
    size = info.get("max_input_tokens") or info.get("max_tokens")
    return int(size) if size else None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The price of one call from the catalog's per-token prices; None when unknown."""
    info = model_info(model) or {}
    prompt_price = info.get("input_cost_per_token")
    completion_price = info.get("output_cost_per_token")
    if prompt_price is None and completion_price is None:
        return None
    return prompt_tokens * float(prompt_price or 0) + completion_tokens * float(
        completion_price or 0
    )
