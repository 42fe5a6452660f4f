"""Names a package exports without importing their modules until first use (PEP 562).

Keeps `import claw_nb` and `from claw_nb import lab` cheap: a name is taken from its home module
on first access and kept in the package's namespace from then on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(`__getattr__`, `__dir__`) for ``package``, whose globals are ``namespace``: a name in
    ``homes`` is imported from the module named there; `dir()` adds the package's `__all__`."""

    def __getattr__(name: str) -> Any:
        module_name = homes.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
