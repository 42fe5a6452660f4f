"""Guards on what a reflection model proposes: only complete, general, well-formed prompts pass.

Reflection models fail in known ways: reasoning left in the answer (`<think>` blocks), a reply
cut off mid-prompt, template placeholders dropped (the agent then never sees its tools), a
prompt that balloons, or one that memorises the training tasks (a "win" that cannot
generalise). Each guard names its reason; a rejected candidate is logged, never evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from string import Template

from claw_nb.records import record

THINK_BLOCK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
UNCLOSED_THINK = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
FENCE = re.compile(r"^\s*(```+|~~~+)[\w-]*\s*$")
SHINGLE_WORDS = 8
"""A run of this many words copied from a training task's instruction counts as copying."""


class CandidateRejected(ValueError):
    """A proposal failed a guard; `reason` says which and why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@record(frozen=True)
class TaskText:
    """What a candidate must not copy from a training task."""

    name: str
    instruction: str


def strip_think(reply: str) -> str:
    """The reply without reasoning blocks; an unclosed one means the reply was cut off."""
    text = THINK_BLOCK.sub("", reply)
    if UNCLOSED_THINK.search(text):
        raise CandidateRejected("truncated: a <think> block is never closed")
    return text


def extract_fenced(reply: str) -> str:
    """The text between the first and the last fence line of the reply.

    Taking the last fence as the closing one keeps fenced examples inside the prompt intact.
    A reply with an opening fence but no closing one was cut off and is rejected.
    """
    lines = reply.splitlines()
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    if not fences:
        raise CandidateRejected("no fenced block: the new text must come inside ``` fences")
    if len(fences) == 1:
        raise CandidateRejected("truncated: the fenced block is never closed")
    return "\n".join(lines[fences[0] + 1 : fences[-1]]).strip("\n") + "\n"


def placeholders(template: str) -> set[str]:
    """Names of the `$name` / `${name}` placeholders a template uses (`$$` is a literal $)."""
    names = set()
    for match in Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
    return names


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def _shingles(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def copied_task_text(candidate: str, seed: str, tasks: Iterable[TaskText]) -> str | None:
    """A description of task-specific text the candidate copies (and the seed did not), or None."""
    cand_words, seed_words = _words(candidate), _words(seed)
    cand_shingles = _shingles(cand_words, SHINGLE_WORDS) - _shingles(seed_words, SHINGLE_WORDS)
    lowered, seed_lowered = candidate.lower(), seed.lower()
    for task in tasks:
        name = task.name.lower()
        identifier_like = len(name) >= 6 and re.search(r"[_\-./0-9]", name)
        if identifier_like and name in lowered and name not in seed_lowered:
            return f"names the training task '{task.name}'"
        common = cand_shingles & _shingles(_words(task.instruction), SHINGLE_WORDS)
        if common:
            return f"copies text of training task '{task.name}': \"{' '.join(min(common))}...\""
    return None


@record(frozen=True)
class Guard:
    """The rules one component's proposals must pass, fixed from its seed text."""

    seed: str
    required_placeholders: frozenset[str]
    max_chars: int
    training_tasks: tuple[TaskText, ...] = ()
    fenced: bool = True

    @classmethod
    def for_seed(
        cls,
        seed: str,
        training_tasks: Iterable[TaskText] = (),
        max_chars: int | None = None,
        fenced: bool = True,
    ) -> Guard:
        """Keep exactly the seed's placeholders; allow up to 3x the seed's length by default."""
        return cls(
            seed=seed,
            required_placeholders=frozenset(placeholders(seed)),
            max_chars=max_chars or max(3 * len(seed), 2_000),
            training_tasks=tuple(training_tasks),
            fenced=fenced,
        )

    def check(self, reply: str, *, parent: str | None = None, truncated: bool = False) -> str:
        """The clean candidate text from a raw reply, or CandidateRejected with the reason."""
        if truncated:
            raise CandidateRejected("truncated: the reflection model hit its output limit")
        text = strip_think(reply)
        text = extract_fenced(text) if self.fenced else text.strip() + "\n"
        if not text.strip():
            raise CandidateRejected("empty candidate")
        if len(text) > self.max_chars:
            raise CandidateRejected(f"too long: {len(text)} characters (cap {self.max_chars})")
        found = placeholders(text)
        missing = self.required_placeholders - found
        if missing:
            names = ", ".join(f"${n}" for n in sorted(missing))
            raise CandidateRejected(f"missing placeholder {names}")
        extra = found - self.required_placeholders
        if extra:
            names = ", ".join(f"${n}" for n in sorted(extra))
            raise CandidateRejected(
                f"unexpected placeholder {names} (write $$ for a literal dollar sign)"
            )
        copied = copied_task_text(text, self.seed, self.training_tasks)
        if copied:
            raise CandidateRejected(f"task-specific: {copied}")
        if parent is not None and text.strip() == parent.strip():
            raise CandidateRejected("unchanged: identical to its parent")
        return text
