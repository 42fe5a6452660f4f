"""Glob matching in time linear in the path, whatever the pattern (ignore files, list/grep globs).

A `.gitignore` line is written by whoever wrote the repository. Translated to a Python regex,
`*a*a*a*...b` backtracks for minutes on a long name, holding the GIL: the kernel freezes and no
Stop can help. Here a glob becomes a small automaton that is run over the path once, keeping the
set of positions it could be at (Thompson's construction); the sets it meets are cached per glob,
so a usual path costs one dictionary lookup per character.

Semantics (git's): ``*`` and ``?`` and ``[...]`` never match ``/``; ``**/`` at the start or after
``/`` matches zero or more directories; a trailing ``/**`` everything below; any other ``**``
acts like ``*``; ``\\x`` is a literal ``x``; an unclosed ``[`` is a literal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

_CACHE_LIMIT = 4096  # cached (states, character) steps per glob, then the cache starts over

# One state of the automaton: (kind, test). "char" consumes one character the test accepts and
# moves on; "loop" consumes any number of them, then moves on; "skip_dirs" may jump past the
# `(.*/)` that follows it (the zero-directories case of `**/`).
_State = tuple[str, Callable[[str], bool] | None]


def _not_slash(ch: str) -> bool:
    return ch != "/"


def _anything(ch: str) -> bool:
    return True


def _literal(c: str) -> Callable[[str], bool]:
    return lambda ch: ch == c


def _char_class(body: str, negate: bool) -> Callable[[str], bool]:
    """A ``[...]`` body (ranges `a-z`, everything else literal) as a test; never matches '/'."""
    singles: set[str] = set()
    ranges: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            ranges.append((body[k], body[k + 2]))
            k += 3
        else:
            singles.add(body[k])
            k += 1

    def test(ch: str) -> bool:
        if ch == "/":
            return False
        inside = ch in singles or any(lo <= ch <= hi for lo, hi in ranges)
        return inside != negate

    return test


def _class_end(pat: str, i: int) -> int | None:
    """Index just past the ``]`` closing the class that opens at ``pat[i]``; None if unclosed."""
    j = i + 1
    if j < len(pat) and pat[j] in "!^":
        j += 1
    if j < len(pat) and pat[j] == "]":
        j += 1
    while j < len(pat) and pat[j] != "]":
        j += 1
    return None if j >= len(pat) else j + 1


def _states(pat: str) -> list[_State]:
    out: list[_State] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if pat.startswith("**", i):
            at_start, after = i == 0 or pat[i - 1] == "/", i + 2
            if at_start and after < n and pat[after] == "/":  # '**/': zero or more directories
                out += [("skip_dirs", None), ("loop", _anything), ("char", _literal("/"))]
                i = after + 1
            elif at_start and after == n:  # trailing '**': everything below
                out.append(("loop", _anything))
                i = after
            else:  # '**' not delimited by slashes acts like '*'
                out.append(("loop", _not_slash))
                i = after
        elif c == "*":
            out.append(("loop", _not_slash))
            i += 1
        elif c == "?":
            out.append(("char", _not_slash))
            i += 1
        elif c == "[" and (end := _class_end(pat, i)) is not None:
            body = pat[i + 1 : end - 1]
            negate = body[:1] in ("!", "^")
            out.append(("char", _char_class(body[1:] if negate else body, negate)))
            i = end
        elif c == "\\" and i + 1 < n:
            out.append(("char", _literal(pat[i + 1])))
            i += 2
        else:
            out.append(("char", _literal(c)))
            i += 1
    return out


@dataclass
class Glob:
    """A compiled glob; `matches(path)` is True when it matches the whole of `path`."""

    pattern: str
    _states: list[_State] = field(repr=False)
    _start: frozenset[int] = field(init=False, repr=False)
    _steps: dict[tuple[frozenset[int], str], frozenset[int]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._start = self._closure({0})

    def _closure(self, positions: set[int]) -> frozenset[int]:
        """`positions` plus every position reachable from them without reading a character."""
        todo, seen = list(positions), set(positions)
        while todo:
            at = todo.pop()
            if at >= len(self._states):
                continue
            kind = self._states[at][0]
            nexts = {at + 1} if kind == "loop" else {at + 1, at + 3} if kind == "skip_dirs" else ()
            for nxt in nexts:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def _step(self, current: frozenset[int], ch: str) -> frozenset[int]:
        key = (current, ch)
        found = self._steps.get(key)
        if found is None:
            moved = set()
            for at in current:
                if at >= len(self._states):
                    continue
                kind, test = self._states[at]
                if kind == "char" and test(ch):
                    moved.add(at + 1)
                elif kind == "loop" and test(ch):
                    moved.add(at)
            found = self._closure(moved)
            if len(self._steps) >= _CACHE_LIMIT:
                self._steps.clear()
            self._steps[key] = found
        return found

    def matches(self, path: str) -> bool:
        current = self._start
        for ch in path:
            current = self._step(current, ch)
            if not current:
                return False
        return len(self._states) in current


def compile_glob(pattern: str) -> Glob:
    """`pattern` (slash-separated, with ``**``) as a `Glob` matching whole relative paths."""
    return Glob(pattern, _states(pattern))
