"""A streamed reply is bounded by tokens as well as by time.

A small model can fall into a loop and stream for ever; `reply_timeout` (30 minutes by default)
is the only other bound, and the server may ignore `max_tokens` or have none sent. So both
model paths count what the stream delivers and close it once the reply is clearly longer than
it was allowed to be: `ReplyTooLong`, which stops the run with that reason (logged).

Tokens are estimated without a tokenizer: the larger of characters / `CHARS_PER_TOKEN` (about 4
for English and code, so a normal reply is under-counted rather than over-counted) and the
number of chunks that carried text (servers send about one token per chunk, so a degenerate
one-character token still counts once). The stream is cut at `SLACK` times the cap plus
`MARGIN_TOKENS`: a server that honours `max_tokens` always ends first.

A loop is also cut as soon as it is plain (`LoopWatch`): once the reply's last
`LOOP_WINDOW` characters of text (prose and reasoning; a tool call, native or written into the
text, may rightly write a file of one line repeated) are one piece of at most `MAX_PERIOD` characters over and over (a
sentence, a line, a blank line), the model is not going to get out of it. On a CPU model at
~5 tokens a second that was the difference between ~9 minutes and ~3: a 0.5B model's loops
ran to 2,777 tokens under a 4,096-token cap.
"""

from __future__ import annotations

from typing import Any

from claw_nb.config import ClawConfig
from claw_nb.errors import ReplyTooLong
from claw_nb.textsafe import show

CHARS_PER_TOKEN = 4
SLACK = 1.5
MARGIN_TOKENS = 256
DEFAULT_CAP = 4_096  # the largest default reply reserve (claw_nb.context.tokens.MAX_RESERVE)
LOOP_WINDOW = 4_000  # characters that must repeat one piece, end to end
MAX_PERIOD = 1_000  # the longest piece: at least four times over in the window
LOOP_EVERY = 512  # characters between two looks


def cap_tokens(config: ClawConfig) -> int:
    """The configured cap: `reply_token_cap`, else `max_tokens`, else the reply reserve."""
    return int(config.reply_token_cap or config.max_tokens or config.reserve_tokens or DEFAULT_CAP)


class LoopWatch:
    """The tail of one stream; `piece()` is the piece its last `LOOP_WINDOW` characters repeat
    end to end, if they do."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.unseen = 0

    def add(self, text: str) -> str | None:
        """Take a chunk's text; the repeated piece once the stream is plainly looping."""
        if not text:
            return None
        self.parts.append(text)
        self.unseen += len(text)
        if self.unseen < LOOP_EVERY:
            return None
        self.unseen = 0
        self.parts = ["".join(self.parts)[-(LOOP_WINDOW + MAX_PERIOD) :]]
        return self.piece() if len(self.parts[0]) >= LOOP_WINDOW else None

    def piece(self) -> str | None:
        window = "".join(self.parts)[-LOOP_WINDOW:]
        last = window[-64:]
        end = LOOP_WINDOW - 1  # where an earlier copy of the last 64 characters may end
        while True:  # each earlier copy of them, nearest first, is a period to try
            found = window.rfind(last, 0, end)
            period = LOOP_WINDOW - len(last) - found
            if found < 0 or period > MAX_PERIOD:
                return None
            if window[period:] == window[:-period]:
                return window[-period:]
            end = found + len(last) - 1


class ReplyCap:
    """Counts one streamed reply; `add` raises `ReplyTooLong` once it is past the cap, or once
    it is plainly looping (`LoopWatch`)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.limit = int(cap * SLACK) + MARGIN_TOKENS
        self.chars = 0
        self.chunks = 0
        self.loop = LoopWatch()

    @classmethod
    def for_config(cls, config: ClawConfig) -> ReplyCap:
        return cls(cap_tokens(config))

    @property
    def estimate(self) -> int:
        return max(self.chars // CHARS_PER_TOKEN, self.chunks)

    def add(self, *texts: str | None, calls: str = "") -> None:
        """Count one chunk's text (content, reasoning) and tool-call text (`calls`, its names
        and arguments). Only the text is watched for loops: a call may write a file of one
        line repeated, and its size is bounded by the cap."""
        size = sum(len(t) for t in texts if t) + len(calls)
        if not size:
            return
        self.chars += size
        self.chunks += 1
        piece = self.loop.add("".join(t for t in texts if t))
        if piece is not None:
            shown = show(repr(piece[:60])) + ("..." if len(piece) > 60 else "")
            raise ReplyTooLong(
                f"the reply was cut after ~{self.estimate} tokens ({self.chars} characters): its "
                f"last {LOOP_WINDOW:,} characters repeat one piece of {len(piece)} characters "
                f"over and over ({shown}); the model is looping. A larger model, or a lower "
                "temperature, usually gets out of it"
            )
        if self.estimate > self.limit:
            raise ReplyTooLong(
                f"the reply was cut after ~{self.estimate} tokens ({self.chars} characters): "
                f"past the cap of {self.cap} tokens (reply_token_cap, else max_tokens, else the "
                "reply reserve) with slack; the model was probably repeating itself. Raise "
                "reply_token_cap if replies this long are expected"
            )


def tool_call_text(calls: Any) -> str:
    """The name and argument text of a stream chunk's tool-call deltas (dicts from JSON, or
    LiteLLM's objects), without the JSON around them, so a call is counted like content."""
    out = []
    for call in calls or ():
        function = (
            call.get("function") if isinstance(call, dict) else getattr(call, "function", None)
        )
        for key in ("name", "arguments"):
            value = (
                function.get(key) if isinstance(function, dict) else getattr(function, key, None)
            )
            out.append(value if isinstance(value, str) else "")
    return "".join(out)
