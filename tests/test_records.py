"""`claw_nb.records.record` against `dataclasses.dataclass`: the same class, declared both ways,
reads, compares and hashes the same (the record only writes its three methods once)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import KW_ONLY, InitVar, dataclass, field

import pytest

from claw_nb.records import record


@record(frozen=True)
class Shipped:
    """A frozen record as a lab worker receives one (pickled)."""

    a: str
    b: tuple = ()
    skip: int = field(default=0, compare=False)


def both(declare):
    """The class `declare(decorator)` makes, once with dataclass and once with record."""
    return declare(dataclass), declare(record)


def plain(deco):
    @deco
    class Point:
        x: int
        y: list = field(default_factory=list)
        note: str = field(default="", repr=False, compare=False)

    return Point


def frozen(deco):
    @deco(frozen=True)
    class Key:
        a: str
        b: tuple = ()
        skip: int = field(default=0, compare=False)
        only_hash: int = field(default=0, hash=False)

    return Key


def test_repr_and_equality_match_the_generated_ones():
    for make in (plain, frozen):
        generated, ours = both(make)
        args = ("a", (1, 2)) if make is frozen else (1, [2])
        g1, g2, o1, o2 = generated(*args), generated(*args), ours(*args), ours(*args)
        assert repr(o1) == repr(g1)
        assert (o1 == o2) is (g1 == g2) is True
        assert (o1 == ours(*args[:1])) == (g1 == generated(*args[:1]))
        assert o1.__eq__(object()) is NotImplemented
        assert dataclasses.asdict(o1) == dataclasses.asdict(g1)


def test_fields_left_out_of_compare_and_hash_are_left_out_as_dataclasses_do():
    generated, ours = both(frozen)
    assert ours("a", (1,), skip=1) == ours("a", (1,), skip=2)
    assert generated("a", (1,), skip=1) == generated("a", (1,), skip=2)
    assert ours("a", (1,), only_hash=1) != ours("a", (1,), only_hash=2)  # compared, not hashed
    assert hash(ours("a", (1,), only_hash=1)) == hash(ours("a", (1,), only_hash=2))
    assert hash(ours("a", (1,))) == hash(generated("a", (1,)))
    assert "skip=0" in repr(ours("a"))


def test_hashable_exactly_when_a_dataclass_would_be():
    generated, ours = both(plain)
    assert generated.__hash__ is None and ours.__hash__ is None
    with pytest.raises(TypeError):
        hash(ours(1))

    def explicit(deco):
        @deco
        class Named:
            name: str

            def __hash__(self) -> int:
                return 7

        return Named

    generated, ours = both(explicit)
    assert hash(ours("x")) == hash(generated("x")) == 7


def test_subclasses_own_methods_and_frozen_stays_frozen():
    def family(deco):
        @deco(frozen=True)
        class Base:
            session: str

        @deco(frozen=True)
        class Child(Base):
            step: int = 0

        return Child

    generated, ours = both(family)
    assert (
        repr(ours("s", 2))
        == repr(generated("s", 2))
        == "test_subclasses_own_methods_and_frozen_stays_frozen.<locals>.family.<locals>.Child(session='s', step=2)"
    )
    assert ours("s", 2) == ours("s", 2) and ours("s", 2) != ours("s", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours("s").step = 1  # type: ignore[misc]
    assert dataclasses.replace(ours("s"), step=4).step == 4


def test_a_class_that_writes_its_own_keeps_them_and_options_pass_through():
    @record(eq=False)
    class Identity:
        v: int

    assert Identity(1) != Identity(1) and hash(Identity(1)) != 0

    @record
    class Shown:
        v: int

        def __repr__(self) -> str:
            return "mine"

    assert repr(Shown(1)) == "mine"

    @record(order=True, frozen=True)
    class Ordered:
        v: int

    assert Ordered(1) < Ordered(2) and Ordered(1) == Ordered(1)

    @record
    class Loop:
        items: list

    loop = Loop([])
    loop.items.append(loop)
    assert (
        repr(loop)
        == "test_a_class_that_writes_its_own_keeps_them_and_options_pass_through.<locals>.Loop(items=[...])"
    )


def test_a_frozen_record_refuses_every_change_once_made_as_a_frozen_dataclass_does():
    generated, ours = both(frozen)
    for made in (generated("a"), ours("a")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.a = "b"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.new_name = 1  # type: ignore[attr-defined]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del made.b  # type: ignore[misc]
        assert dataclasses.replace(made, a="c").a == "c" and made.a == "a"
    made = Shipped("a", (1,), skip=3)
    assert pickle.loads(pickle.dumps(made)) == made and copy.deepcopy(made) == made
    assert pickle.loads(pickle.dumps(made)).skip == 3

    def derived(deco):
        @deco(frozen=True)
        class Sized:
            text: str
            size: int = field(init=False, default=0)

            def __post_init__(self) -> None:
                object.__setattr__(self, "size", len(self.text))

        return Sized

    generated, ours = both(derived)
    assert ours("abc").size == generated("abc").size == 3
    assert repr(ours("abc")).endswith("(text='abc', size=3)")


def test_init_takes_and_refuses_arguments_as_the_generated_one_does():
    def shaped(deco):
        @deco
        class Shaped:
            a: int
            b: str
            c: list = field(default_factory=list)
            d: int = 4
            made: list = field(init=False, default_factory=lambda: ["x"])
            fixed: int = field(init=False, default=9)

            def __post_init__(self) -> None:
                self.made.append(self.a)

        return Shaped

    generated, ours = both(shaped)
    for args, kwargs in [((1, "b"), {}), ((1,), {"b": "q", "d": 5}), ((), {"b": "q", "a": 2})]:
        g, o = generated(*args, **kwargs), ours(*args, **kwargs)
        assert dataclasses.asdict(o) == dataclasses.asdict(g) and repr(o) == repr(g)
    assert ours(1, "b").c is not ours(1, "b").c  # a fresh default each time
    wrong = [
        ((), {}),
        ((1,), {}),
        ((1, "b", [], 4, 5), {}),
        ((1, "b"), {"e": 1}),
        ((1, "b"), {"a": 2}),
        ((1, "b"), {"made": []}),
    ]
    for args, kwargs in wrong:
        with pytest.raises(TypeError) as want:
            generated(*args, **kwargs)
        with pytest.raises(TypeError) as got:
            ours(*args, **kwargs)
        assert str(got.value) == str(want.value)

    def three(deco):
        @deco
        class Three:
            a: int
            b: int
            c: int

        return Three

    generated, ours = both(three)
    for args in [(), (1,), (1, 2, 3, 4)]:
        with pytest.raises(TypeError) as want:
            generated(*args)
        with pytest.raises(TypeError) as got:
            ours(*args)
        assert str(got.value) == str(want.value)


def test_init_options_a_class_may_take_are_kept():
    @record
    class Own:
        v: int

        def __init__(self, text: str) -> None:
            self.v = len(text)

    assert Own("abc").v == 3

    @record(init=False)
    class Bare:
        v: int = 1

    assert Bare().v == 1 and "v" not in Bare().__dict__

    @record(kw_only=True)
    class Named:
        v: int

    assert Named(v=2).v == 2
    with pytest.raises(TypeError):
        Named(2)  # type: ignore[misc]

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @record
        class Misordered:
            a: int = 0
            b: int  # type: ignore[misc]


def test_keyword_only_and_init_only_fields_anywhere_get_the_generated_init():
    @record
    class OneNamed:
        a: int = field(kw_only=True)
        b: int = 0

    with pytest.raises(TypeError):
        OneNamed(5)  # type: ignore[misc]
    assert OneNamed(a=5).a == 5

    @record
    class AfterMarker:
        a: int
        _: KW_ONLY
        b: int = 0

    assert AfterMarker(1, b=2).b == 2
    with pytest.raises(TypeError):
        AfterMarker(1, 2)  # type: ignore[misc]

    @record
    class Base:
        size: int
        scale: InitVar[int] = 1

        def __post_init__(self, scale: int) -> None:
            self.size *= scale

    @record
    class Sub(Base):
        extra: int = 0

    assert Sub(2, 3).size == 6 and Sub(2, 3, 4).extra == 4


def test_an_undocumented_record_is_documented_by_its_fields_as_a_dataclass_is():
    def bare(deco):
        @deco
        class Bare:
            a: int
            b: str = "x"
            c: list = field(default_factory=list)

        return Bare

    generated, ours = both(bare)
    assert (
        ours.__doc__ == generated.__doc__ == "Bare(a: 'int', b: 'str' = 'x', c: 'list' = <factory>)"
    )
