"""A real IPython shell with `%load_ext claw_nb` done, as the notebook tests build it.

The `shell` and `widget_shell` fixtures in tests/conftest.py use these; a module that needs more
(a private cache, recorded displays) overrides the fixture with them and says so."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def claw_shell(monkeypatch, workspace: Path) -> Iterator[Any]:
    """The IPython shell working in `workspace`, outside any notebook session, with claw_nb
    loaded; unloaded again on the way out."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(workspace)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "claw_nb")
    try:
        yield sh
    finally:
        sh.run_line_magic("unload_ext", "claw_nb")


def _nothing(*objs: Any, **kwargs: Any) -> None:
    return None


def widget_mode(monkeypatch, display: Callable[..., None] | None = _nothing) -> None:
    """The widget view for every run but `--ui text`, as in JupyterLab, without a browser:
    what would be displayed goes to `display` (nowhere by default; None leaves IPython's own)."""
    from claw_nb.jupyter.magics import ClawMagics

    monkeypatch.setattr(ClawMagics, "_use_widgets", lambda self, ui: ui != "text")
    if display is not None:
        monkeypatch.setattr("IPython.display.display", display)


def keep_displays(monkeypatch, *, check_updates: bool = False) -> dict[str, Any]:
    """Displays go to the returned dict instead: the last object shown under each display id.
    With `check_updates`, a display id shown twice, or updated before it was shown, fails."""
    shown: dict[str, Any] = {}

    def display(*objs, raw=False, display_id=None, update=False, **kwargs):
        if display_id is not None:
            if check_updates:
                assert update == (display_id in shown), "updated before shown, or shown twice"
            shown[display_id] = objs[0]

    monkeypatch.setattr("IPython.display.display", display)
    return shown
