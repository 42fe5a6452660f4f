"""Context management for small windows: token budgets, tool-output handles and compaction.

`ContextManager` is what the agent uses; see docs/context.md. Importing this package does not
import LiteLLM (it loads on the first count).
"""

from __future__ import annotations

from claw_nb.context.manager import MAX_CONTEXT_RETRIES, ContextManager
from claw_nb.context.outputs import OutputStore, clip_with_handle, make_read_output_tool
from claw_nb.context.prune import PruneReport, prune
from claw_nb.context.summary import SUMMARY_END, SUMMARY_MARKER, SUMMARY_SYSTEM
from claw_nb.context.tokens import TokenCounter, model_window, parse_context_error

__all__ = [
    "MAX_CONTEXT_RETRIES",
    "SUMMARY_END",
    "SUMMARY_MARKER",
    "SUMMARY_SYSTEM",
    "ContextManager",
    "OutputStore",
    "PruneReport",
    "TokenCounter",
    "clip_with_handle",
    "make_read_output_tool",
    "model_window",
    "parse_context_error",
    "prune",
]
