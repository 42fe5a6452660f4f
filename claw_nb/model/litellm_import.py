"""Import LiteLLM once, quietly and offline.

LiteLLM fetches a model-price map from the internet on import (and prints warnings from a
background thread when that fails); offline machines must never wait for it. Imported lazily:
it costs seconds, and `import claw_nb` must stay fast.
"""

from __future__ import annotations

import os
import threading
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


def import_in_background() -> None:
    """Start the import now in a daemon thread, so the first call finds it (mostly) done."""
    if _module is None:
        threading.Thread(target=_quiet_import, daemon=True, name="claw-litellm-import").start()


def _quiet_import() -> None:
    try:
        litellm()
    except Exception:  # noqa: BLE001, S110 - the first real call imports again and reports it
        pass
