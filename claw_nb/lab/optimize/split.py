"""Train / validation / held-out splits of a task suite, stratified by difficulty.

The optimizer learns from train, picks its winner on validation, and the winner is judged on
held-out tasks it never saw: the only number that says whether a gain is real.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.records import record


@record(frozen=True)
class Split:
    train: tuple[Any, ...]
    val: tuple[Any, ...]
    held_out: tuple[Any, ...]

    def names(self) -> dict[str, list[str]]:
        return {
            part: [t.name for t in getattr(self, part)] for part in ("train", "val", "held_out")
        }

    def for_search(self) -> Split:
        """This split, if reflect can search on it: it needs train and validation tasks.

        The one check of a split: `reflect` and `lab optimize reflect` both call it."""
        if not self.train or not self.val:
            raise ConfigError(f"reflect needs train and validation tasks ({self.summary()})")
        return self

    def summary(self) -> str:
        def describe(tasks: tuple[Any, ...]) -> str:
            counts: dict[str, int] = {}
            for t in tasks:
                counts[t.difficulty] = counts.get(t.difficulty, 0) + 1
            return ", ".join(f"{n} {d}" for d, n in sorted(counts.items()))

        return "; ".join(
            f"{part}: {len(getattr(self, part))} ({describe(getattr(self, part))})"
            for part in ("train", "val", "held_out")
        )


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Split n items by fractions with the largest-remainder rule."""
    raw = [n * f for f in fractions]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def split_tasks(
    tasks: Sequence[Any], fractions: Sequence[float] = (0.4, 0.3, 0.3), seed: int = 0
) -> Split:
    """Shuffle each difficulty level (seeded) and deal it out train/val/held-out by `fractions`.

    Levels are dealt in turn so that the rounding leftovers of small levels do not all land in
    the same split; every split gets at least one task when there are three or more.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not sum(fractions):
        raise ConfigError(f"fractions must be three non-negative shares (got {fractions})")
    total = sum(fractions)
    fractions = [f / total for f in fractions]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError("task names must be unique to split a suite")
    rng = random.Random(seed)
    parts: list[list[Any]] = [[], [], []]
    levels: dict[str, list[Any]] = {}
    for task in sorted(tasks, key=lambda t: t.name):
        levels.setdefault(task.difficulty, []).append(task)
    offset = 0
    for level in sorted(levels):
        group = levels[level]
        rng.shuffle(group)
        counts = _allocate(len(group), fractions)
        # Rotate which split takes a rounding leftover first, level by level.
        counts = counts[offset % 3 :] + counts[: offset % 3] if len(group) < 3 else counts
        start = 0
        for i, count in enumerate(counts):
            parts[i].extend(group[start : start + count])
            start += count
        offset += 1
    if len(tasks) >= 3:
        for i in range(3):
            if not parts[i] and fractions[i] > 0:
                donor = max(range(3), key=lambda j: len(parts[j]))
                parts[i].append(parts[donor].pop())
    return Split(*(tuple(sorted(p, key=lambda t: t.name)) for p in parts))


def split_by_names(
    tasks: Sequence[Any], train: Sequence[str], val: Sequence[str], held_out: Sequence[str]
) -> Split:
    """A split the user chose by task name; names must exist and not overlap."""
    by_name = {t.name: t for t in tasks}
    seen: set[str] = set()
    parts = []
    for label, names in (("train", train), ("val", val), ("held_out", held_out)):
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ConfigError(f"{label}: unknown task(s) {unknown}")
        overlap = seen.intersection(names)
        if overlap:
            raise ConfigError(f"{label}: task(s) {sorted(overlap)} are already in another split")
        seen.update(names)
        parts.append(tuple(by_name[n] for n in names))
    return Split(*parts)
