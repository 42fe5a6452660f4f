"""claw_nb: a coding agent that lives in Jupyter, local-model-first, logged to DuckDB.

`import claw_nb` stays cheap: the heavy parts (LiteLLM, DuckDB, pandas, nbformat) load on first
use through a module-level `__getattr__` (PEP 562).
"""

from __future__ import annotations

from typing import Any

from claw_nb.lazy_exports import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "create_agent": "claw_nb.api",
    "resume": "claw_nb.api",
    "ClawError": "claw_nb.errors",
    "Agent": "claw_nb.agent",
    "RunResult": "claw_nb.agent",
    "ClawConfig": "claw_nb.config",
    "load_config": "claw_nb.config",
    "connect": "claw_nb.log.store",
    "EventLog": "claw_nb.log.store",
}

__all__ = [
    "create_agent",
    "resume",
    "ClawError",
    "Agent",
    "RunResult",
    "ClawConfig",
    "load_config",
    "connect",
    "EventLog",
    "load_ipython_extension",
    "unload_ipython_extension",
    "__version__",
]


__getattr__, __dir__ = lazy_exports("claw_nb", _LAZY, globals())


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext claw_nb`: register the `%%claw` / `%claw` magics. From here on, installed
    modules beat same-named files in the working directory (`claw_nb.import_guard`)."""
    from claw_nb import import_guard

    import_guard.install()  # first: the magics' own imports must not come from the workspace
    from claw_nb.jupyter.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from claw_nb import import_guard
    from claw_nb.jupyter.magics import unload_ipython_extension as unload

    unload(ipython)
    import_guard.uninstall()
