"""Context windows and prices of known models, without importing LiteLLM.

LiteLLM ships its model catalog as a JSON file; reading that file takes ~20 ms where importing
LiteLLM to call `get_model_info` takes seconds. The lookup tries the name as given, then without
its provider prefix (`openai/gpt-4o-mini` -> `gpt-4o-mini`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

CATALOG_FILE = "model_prices_and_context_window_backup.json"


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")  # finds the package without running it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / CATALOG_FILE
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def model_info(model: str) -> dict[str, Any] | None:
    """The catalog entry for `model` (a LiteLLM model string), or None when unknown."""
    catalog = _catalog()
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
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
