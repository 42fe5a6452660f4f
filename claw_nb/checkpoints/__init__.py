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

from claw_nb.checkpoints.restore import Action, RewindReport, plan_rewind, rewind_files
from claw_nb.checkpoints.session import Checkpoints
from claw_nb.checkpoints.store import CheckpointError, CheckpointStore

__all__ = [
    "Action",
    "CheckpointError",
    "CheckpointStore",
    "Checkpoints",
    "RewindReport",
    "plan_rewind",
    "rewind_files",
]
