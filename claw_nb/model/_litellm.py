"""Import LiteLLM once, quietly and offline.

LiteLLM fetches a model-price map from the internet on import (and prints warnings from a
background thread when that fails); offline machines must never wait for it. Imported lazily:
it costs seconds, and `import claw_nb` must stay fast.
"""

from __future__ import annotations

import os
from types import ModuleType

_module: ModuleType | None = None


def litellm() -> ModuleType:
    """The configured litellm module (imported on first use)."""
    global _module
    if _module is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm as module

        module.suppress_debug_info = True
        module.telemetry = False
        # We register no LiteLLM callbacks; its per-chunk logging threads only cost time.
        module.disable_streaming_logging = True
        _module = module
    return _module
