"""How far the model has got writing a tool call, reported while the call streams in.

A 20 kB `write_file` takes the model many seconds to write, and until the whole call has
arrived nothing else shows: the person watching thinks it hung. A streaming path feeds this
tracker as argument deltas arrive (native calls) or as markup the visible-text filter hides
(calls written into the text), and the tracker calls `on_tool_progress(index, name, chars)`
sparingly: at the first sight of a call (or of its name), then at most every `interval`
seconds or when the size reaches the next power of two from 1 kB. No final report is needed:
the agent's `ToolCallStarted` follows the finished call. A path given no callback makes no
tracker, so a call nobody watches costs nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Protocol

ToolProgressCallback = Callable[[int, str, int], None]
"""`(index, name, chars)`: the call's position in the reply, its tool name ("" while unknown)
and the characters of its arguments (or markup) received so far."""

REPORT_INTERVAL = 0.25  # seconds between reports of the same call, unless a size bucket is crossed
SMALLEST_BUCKET = 1024  # sizes below this are one bucket; above, each power of two is one
_NAME_SEARCH_LIMIT = 512  # the name of a call written as text is looked for in its first chars
_TEXT_CALL_NAME = re.compile(r'<function=([\w.-]+)>|"name"\s*:\s*"([\w.-]+)"')


class CallsInProgress(Protocol):
    """What the tracker reads from a stream's tool-call accumulator."""

    def latest(self) -> tuple[int, str, int] | None: ...


def size_bucket(chars: int) -> int:
    """0 below 1 kB, then one more for every doubling (1 kB, 2 kB, 4 kB, ...)."""
    return max(0, (chars // SMALLEST_BUCKET).bit_length())


class ToolProgressTracker:
    """Throttles one model call's progress reports (make one per attempt)."""

    __slots__ = ("_at", "_bucket", "_callback", "_clock", "_index", "_interval", "_name", "_text")

    def __init__(
        self,
        callback: ToolProgressCallback,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REPORT_INTERVAL,
    ) -> None:
        self._callback = callback
        self._clock = clock
        self._interval = interval
        self._index: int | None = None
        self._name = ""
        self._at = 0.0
        self._bucket = 0
        self._text: _TextCall | None = None

    @classmethod
    def for_callback(cls, callback: ToolProgressCallback | None) -> ToolProgressTracker | None:
        """A tracker, or None when nobody listens (then a path does no work for progress)."""
        return cls(callback) if callback is not None else None

    def update(self, index: int, name: str, chars: int) -> None:
        """Report `(index, name, chars)` if it is news: a new call or name, a new size bucket,
        or `interval` seconds since the last report."""
        now = self._clock()
        bucket = size_bucket(chars)
        if index == self._index and name == self._name:
            if now - self._at < self._interval and bucket <= self._bucket:
                return
        self._index, self._name, self._at, self._bucket = index, name, now, bucket
        self._callback(index, name, chars)

    def native(self, calls: CallsInProgress) -> None:
        """After a chunk's tool-call deltas were added to the stream's accumulator."""
        latest = calls.latest()
        if latest is not None:
            self.update(*latest)

    def hidden_text(self, text: str) -> None:
        """Text the visible-text filter hid: a tool call the model is writing as markup."""
        if self._text is None:
            self._text = _TextCall()
        self._text.add(text)
        self.update(0, self._text.name, self._text.chars)


class _TextCall:
    """A call written into the reply's text: its size so far and, once seen, its name."""

    __slots__ = ("chars", "head", "name")

    def __init__(self) -> None:
        self.chars = 0
        self.head = ""
        self.name = ""

    def add(self, text: str) -> None:
        self.chars += len(text)
        if not self.name and len(self.head) < _NAME_SEARCH_LIMIT:
            self.head += text
            found = _TEXT_CALL_NAME.search(self.head)
            if found is not None:
                self.name = found.group(1) or found.group(2)
