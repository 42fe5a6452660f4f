"""What the notebook tools know about their kernel: the shell, the mode, the live room."""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.records import record
from claw_nb.tools.base import Tool, ToolContext, ToolError, derive_tool


@record
class NotebookBinding:
    """What the notebook tools know about the kernel they serve.

    ``shell`` is the IPython shell (None: tools used outside a kernel, e.g. from the CLI).
    ``prefer`` is the settings' notebook mode: "auto", "disk" or "live". The mode is detected
    once, on first use, and cached.
    """

    shell: Any = None
    prefer: str = "auto"
    # A front end that shows a proposed cell from a background run (the notebook widget):
    # propose(source, cell_type) -> what to tell the model, or None when it cannot.
    propose: Callable[[str, str], str | None] | None = None
    _mode: Any = field(default=None, repr=False)

    def mode(self):
        """The :class:`claw_nb.tools.notebook.live.NotebookMode` (detected once per bound shell)."""
        from claw_nb.tools.notebook.kernel_session import current_notebook_path
        from claw_nb.tools.notebook.live import NotebookMode, detect_notebook_mode

        if self.shell is None:  # cheap (environment only), and never cached
            return NotebookMode("disk", "no kernel bound to the tools", current_notebook_path(None))
        if self._mode is None:
            try:
                self._mode = detect_notebook_mode(self.shell, self.prefer)
            except Exception as e:  # noqa: BLE001 (detection must never break a tool call)
                self._mode = NotebookMode(
                    "disk", f"mode detection failed: {e}", current_notebook_path(self.shell)
                )
        return self._mode

    def current_notebook(self) -> Path | None:
        nb = self.mode().notebook
        return Path(os.path.realpath(nb)) if nb else None


UNBOUND = NotebookBinding()


def bind_tool(func: Callable[..., str], binding: NotebookBinding, kind: str, name: str) -> Tool:
    """A Tool calling ``func(ctx, binding, **arguments)``, with func's schema minus `binding`."""

    @functools.wraps(func)
    def bound(ctx: ToolContext, **kwargs: Any) -> str:
        return func(ctx, binding, **kwargs)

    sig = inspect.signature(func)
    params = [p for name, p in sig.parameters.items() if name != "binding"]
    bound.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    # Resolved here: derive_tool would look the names up in this module, not in func's.
    hints = typing.get_type_hints(func)
    bound.__annotations__ = {k: v for k, v in hints.items() if k != "binding"}
    del bound.__wrapped__  # derive_tool must see the signature above, not func's
    return derive_tool(bound, kind, name=name)


def live_room(binding: NotebookBinding, resolved: Path) -> str | None:
    if binding.shell is None:
        return None
    return binding.mode().room_for(resolved)


def _open_live(binding: NotebookBinding, room: str):
    from claw_nb.tools.notebook.live import LiveNotebook

    return LiveNotebook(binding.mode().server, room)


def live_call(binding: NotebookBinding, room: str, fn: Callable[[Any], Any]) -> Any:
    from claw_nb.tools.notebook.live import LiveNotebookError

    try:
        return _open_live(binding, room).run(fn)
    except LiveNotebookError as e:
        raise ToolError(f"{e}. Try again, or ask the user to check JupyterLab.") from e
