"""The prose of a streamed reply, without the tool-call markup some models write into it."""

from __future__ import annotations

from collections.abc import Callable

TextCallback = Callable[[str], None]

TEXT_CALL_MARKERS = ("<tool_call", "<function=")


class VisibleText:
    """Passes streamed text through until a text-embedded tool call starts.

    Local models write calls such as `<tool_call>...` into their text; the user should see the
    prose, not the raw markup. A possible marker prefix at the end of a chunk is held back.
    What is hidden goes to `on_hidden` if given (progress reports of the call being written).
    """

    def __init__(self, sink: TextCallback | None, on_hidden: TextCallback | None = None) -> None:
        self.sink = sink
        self.on_hidden = on_hidden
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> None:
        if not text or (self.sink is None and self.on_hidden is None):
            return
        if self.stopped:
            if self.on_hidden is not None:
                self.on_hidden(text)
            return
        buffer = self.pending + text
        cut = min((i for i in (buffer.find(m) for m in TEXT_CALL_MARKERS) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._emit(buffer[:cut])
            self.pending = ""
            if self.on_hidden is not None:
                self.on_hidden(buffer[cut:])
            return
        hold = 0
        for marker in TEXT_CALL_MARKERS:
            for n in range(min(len(marker) - 1, len(buffer)), 0, -1):
                if buffer.endswith(marker[:n]):
                    hold = max(hold, n)
                    break
        self.pending = buffer[len(buffer) - hold :] if hold else ""
        self._emit(buffer[: len(buffer) - hold])

    def flush(self) -> None:
        if not self.stopped:
            self._emit(self.pending)
        self.pending = ""

    def _emit(self, text: str) -> None:
        if text and self.sink is not None:
            self.sink(text)
