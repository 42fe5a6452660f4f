"""Test helpers that ship with the package (notebooks and the CLI demo use them too).

:class:`ScriptedServer` (:mod:`claw_nb.testing.server`) is an OpenAI-compatible HTTP server that
replays scripted replies (:mod:`claw_nb.testing.replies`); :class:`ScriptedModel` replays the same
replies in memory, for fast tests of the loop that need no HTTP. :mod:`claw_nb.testing.lab_demo`
scripts a small world for the lab's optimizers (tasks, an agent, a reflection model). Standard library only: importing
this package does not import LiteLLM.

The names below are loaded lazily so that ``python -m claw_nb.testing.server`` does not import
the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "MODEL_NAME",
    "NO_REPLY_MESSAGE",
    "CutStreamReply",
    "DelayReply",
    "EndlessStreamReply",
    "ErrorReply",
    "HangReply",
    "HoldReply",
    "Reply",
    "ScriptedModel",
    "ScriptedServer",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
    "call",
    "cut_stream",
    "delay",
    "endless_stream",
    "error",
    "hang",
    "hold",
    "reply_from_dict",
    "text",
    "tool_calls",
]

_HOMES = {"ScriptedServer": "server", "ScriptedModel": "scripted_model"}

if TYPE_CHECKING:  # pragma: no cover
    from claw_nb.testing.replies import (
        MODEL_NAME,
        NO_REPLY_MESSAGE,
        CutStreamReply,
        DelayReply,
        EndlessStreamReply,
        ErrorReply,
        HangReply,
        HoldReply,
        Reply,
        TextReply,
        ToolCall,
        ToolCallsReply,
        call,
        cut_stream,
        delay,
        endless_stream,
        error,
        hang,
        hold,
        reply_from_dict,
        text,
        tool_calls,
    )
    from claw_nb.testing.scripted_model import ScriptedModel
    from claw_nb.testing.server import ScriptedServer


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module(f"claw_nb.testing.{_HOMES.get(name, 'replies')}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
