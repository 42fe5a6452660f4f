"""The scripted server under its older module name: `python -m claw_nb.testing.scripted_server`.

The code lives in :mod:`claw_nb.testing.replies`, :mod:`claw_nb.testing.http` and
:mod:`claw_nb.testing.server`; this module keeps old imports and command lines working.
"""

from __future__ import annotations

import sys

from claw_nb.testing.replies import (
    MODEL_NAME,
    NO_REPLY_MESSAGE,
    CutStreamReply,
    DelayReply,
    ErrorReply,
    HangReply,
    Reply,
    TextReply,
    ToolCall,
    ToolCallsReply,
    call,
    cut_stream,
    delay,
    error,
    hang,
    reply_from_dict,
    text,
    tool_calls,
)
from claw_nb.testing.server import ScriptedServer, main

__all__ = [
    "MODEL_NAME",
    "NO_REPLY_MESSAGE",
    "CutStreamReply",
    "DelayReply",
    "ErrorReply",
    "HangReply",
    "Reply",
    "ScriptedServer",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
    "call",
    "cut_stream",
    "delay",
    "error",
    "hang",
    "main",
    "reply_from_dict",
    "text",
    "tool_calls",
]

if __name__ == "__main__":
    sys.exit(main())
