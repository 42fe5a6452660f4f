"""`record`: a dataclass whose ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and frozen
``__setattr__`` and ``__delattr__`` are written once, here.

``dataclasses`` compiles those for every class it makes (an ``exec`` of generated source each).
On an interpreter built without PGO that was 29 ms of the 48 ms a ``claw-nb run`` spent making
its 56 dataclasses before its first request, and the ``__init__`` alone another ~10 ms; the
process starts for every run, lab trial and ACP session. ``record`` lets ``dataclasses`` make
the rest (fields, ``replace``, ``asdict``, ``__match_args__``) and gives the class these, which
behave as the generated ones: the same arguments (positional or by name, defaults and default
factories, ``init=False`` fields, ``__post_init__``) and the same errors for wrong ones, the same
text, the same fields compared and hashed, the same rules for when a class is hashable, and a
frozen record refuses to set or delete an attribute once made (``tests/test_records.py`` holds
them side by side). An ``__init__`` here binds its arguments in a loop, ~1-2 us more a call than
a generated one: a run makes a few hundred records.
"""

from __future__ import annotations

import reprlib
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, fields
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
    init = options.pop("init", True)
    ours_init = init and "__init__" not in own and not _needs_generated_init(cls, options)
    # dataclasses documents an undocumented class by its signature, here object.__init__'s
    # text signature, parsed with tokenize (its regular expression alone ~2 ms): said here
    undocumented = ours_init and not own.get("__doc__")
    if undocumented:
        cls.__doc__ = cls.__name__
    made = dataclass(cls, repr=False, eq=False, init=init and not ours_init, **options)
    if ours_init:
        made.__init__ = _init_for(made, frozen)  # type: ignore[misc]
    if undocumented:
        made.__doc__ = _signature_text(made)
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


def _needs_generated_init(cls: type, options: dict[str, Any]) -> bool:
    """Keyword-only and init-only fields, here or in a base: dataclasses writes that
    ``__init__`` (no record uses them; they keep working if one does)."""
    if options.get("kw_only"):
        return True
    for klass in cls.__mro__:
        annotations = str(klass.__dict__.get("__annotations__", {}))
        if "InitVar" in annotations or "KW_ONLY" in annotations:
            return True
        for value in klass.__dict__.get("__dataclass_fields__", {}).values():
            if getattr(value, "kw_only", False) is True:
                return True
    return any(
        isinstance(value, Field) and getattr(value, "kw_only", False) is True
        for value in cls.__dict__.values()
    )


def _init_for(cls: type, frozen: bool) -> Any:
    """The ``__init__`` dataclasses would write for ``cls``: its init fields in order, then the
    others that have a default, then ``__post_init__``."""
    every = fields(cls)
    taken = [f for f in every if f.init]
    names = tuple(f.name for f in taken)
    known = frozenset(names)
    defaults: dict[str, tuple[bool, Any]] = {}  # name -> (is a factory, default or factory)
    seen_default = False
    for f in taken:
        if f.default is not MISSING or f.default_factory is not MISSING:
            seen_default = True
            defaults[f.name] = _default_of(f)
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    later = [(f.name, _default_of(f)) for f in every if not f.init and _has_default(f)]
    post_init = getattr(cls, "__post_init__", None) is not None
    custom_setattr = not frozen and cls.__setattr__ is not object.__setattr__
    put = setattr if custom_setattr else object.__setattr__
    where = f"{cls.__qualname__}.__init__()"
    least = len(names) - len(defaults)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            took = (
                f"{least + 1}" if least == len(names) else f"from {least + 1} to {len(names) + 1}"
            )
            raise TypeError(
                f"{where} takes {took} positional arguments but {len(args) + 1} were given"
            )
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in known:
                raise TypeError(f"{where} got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{where} got multiple values for argument {key!r}")
            values[key] = value
        if len(values) < len(names):
            missing = [n for n in names if n not in values and n not in defaults]
            if missing:
                said = _listed([repr(n) for n in missing])
                plural = "s" if len(missing) > 1 else ""
                raise TypeError(
                    f"{where} missing {len(missing)} required positional argument{plural}: {said}"
                )
        for name in names:
            if name in values:
                put(self, name, values[name])
            else:
                factory, default = defaults[name]
                put(self, name, default() if factory else default)
        for name, (factory, default) in later:
            put(self, name, default() if factory else default)
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _signature_text(cls: type) -> str:
    """``Name(a: int, b: str = 'x', c: list = <factory>)``, as dataclasses writes it."""
    shown = []
    for f in fields(cls):
        if not f.init:
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
        text = f"{f.name}: {kind!r}" if isinstance(f.type, str) else f"{f.name}: {kind}"
        if f.default is not MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not MISSING:
            text += " = <factory>"
        shown.append(text)
    return f"{cls.__name__}({', '.join(shown)})"


def _listed(items: list[str]) -> str:
    """As Python lists missing arguments: 'a', 'a' and 'b', 'a', 'b', and 'c'."""
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _has_default(f: Field) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


def _default_of(f: Field) -> tuple[bool, Any]:
    if f.default_factory is not MISSING:
        return True, f.default_factory
    return False, f.default


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
