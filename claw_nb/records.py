"""`record`: a dataclass whose ``__repr__``, ``__eq__``, ``__hash__`` and frozen ``__setattr__`` and
``__delattr__`` are written once, here.

``dataclasses`` compiles those for every class it makes (an ``exec`` of generated source each).
On an interpreter built without PGO that was 29 ms of the 48 ms a ``claw-nb run`` spent making
its 56 dataclasses before its first request, and the process starts for every run, lab trial
and ACP session. ``record`` lets ``dataclasses`` make the rest (``__init__``, fields,
``replace``, ``asdict``) and gives the class these, which behave as the generated ones: the
same text, the same fields compared and hashed, the same rules for when a class is hashable,
and a frozen record refuses to set or delete an attribute once made
(``tests/test_records.py`` holds them side by side).
"""

from __future__ import annotations

import reprlib
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


def record(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@dataclass`` with the same options (``@record`` or ``@record(frozen=True, ...)``)."""

    def wrap(klass: type[T]) -> type[T]:
        return _record(klass, options)

    return wrap if cls is None else wrap(cls)


def _record(cls: type[T], options: dict[str, Any]) -> type[T]:
    want_repr = options.pop("repr", True)
    want_eq = options.pop("eq", True)
    if options.get("order") or options.get("unsafe_hash"):  # their generated parts need eq
        return dataclass(cls, repr=want_repr, eq=want_eq, **options)
    own = cls.__dict__
    class_hash = own.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in own))
    frozen = bool(options.pop("frozen", False))
    if frozen and ("__setattr__" in own or "__delattr__" in own):
        raise TypeError(f"a frozen record cannot define __setattr__ or __delattr__: {cls}")
    made = dataclass(cls, repr=False, eq=False, **options)
    if frozen:  # its own __init__ sets each field once, through the guard below
        made.__setattr__ = _frozen_setattr  # type: ignore[method-assign]
        made.__delattr__ = _frozen_delattr  # type: ignore[method-assign]
        made.__record_frozen__ = True  # type: ignore[attr-defined]
    if want_repr and "__repr__" not in own:
        made.__repr__ = _repr  # type: ignore[method-assign]
    if want_eq:
        if "__eq__" not in own:
            made.__eq__ = _eq  # type: ignore[method-assign]
        if not explicit_hash:  # as dataclasses: frozen hashes its compared fields, else none
            made.__hash__ = _hash if frozen else None  # type: ignore[method-assign,assignment]
    return made


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    """A field is set once, by the class's own `__init__`; nothing else is set."""
    if name in self.__dict__ or name not in self.__dataclass_fields__:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _compared(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in fields(obj) if f.compare)


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return _compared(self) == _compared(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(
        tuple(
            getattr(self, f.name) for f in fields(self) if (f.compare if f.hash is None else f.hash)
        )
    )
