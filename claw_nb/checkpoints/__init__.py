"""Checkpoints and rewind: what each tool call changed in the workspace, and putting it back.

`Checkpoints` listens to an agent (`Agent(checkpoints=...)`, wired by `api.build_agent`) and
records, before and after every call that can change the workspace, the content of what it
changed (`recorder`, `scan`) into a content-addressed store beside the log's journals, out of
the agent's reach (`store`). `rewind_files` (`restore`) puts a session's files back as they
were after a step; `Agent.rewind(step)` also cuts the conversation there (`turns`). The CLI's
`claw-nb rewind` and the notebook's `%claw undo` / `%claw rewind` are shells over these.
See docs/checkpoints.md for the limits.
"""

from __future__ import annotations

from typing import Any

from claw_nb.checkpoints.session import Checkpoints
from claw_nb.checkpoints.store import CheckpointError, CheckpointStore

_RESTORE = ("Action", "RewindReport", "plan_rewind", "rewind_files")

__all__ = [
    "Action",
    "CheckpointError",
    "CheckpointStore",
    "Checkpoints",
    "RewindReport",
    "plan_rewind",
    "rewind_files",
]


def __getattr__(name: str) -> Any:
    """The rewind's names, imported when first asked for (PEP 562): a session that never
    rewinds does not load them."""
    if name in _RESTORE:
        from claw_nb.checkpoints import restore

        return getattr(restore, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
