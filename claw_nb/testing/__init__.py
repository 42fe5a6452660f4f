"""Test helpers that ship with the package (notebooks and the CLI demo use them too).

:mod:`claw_nb.testing.scripted_server` is an OpenAI-compatible HTTP server that replays
scripted replies. Standard library only: importing this package does not import LiteLLM.

The names below are loaded lazily so that ``python -m claw_nb.testing.scripted_server`` does
not import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "reply_from_dict",
    "text",
    "tool_calls",
]

if TYPE_CHECKING:  # pragma: no cover
    from claw_nb.testing.scripted_server import (
        MODEL_NAME,
        NO_REPLY_MESSAGE,
        CutStreamReply,
        DelayReply,
        ErrorReply,
        HangReply,
        Reply,
        ScriptedServer,
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module("claw_nb.testing.scripted_server")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
