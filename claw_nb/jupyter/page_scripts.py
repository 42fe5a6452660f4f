"""The page side of a live transcript: the scripts the run's script output carries.

The widget is built from ipywidgets, which has no place for page code of our own; the run's
`application/javascript` output (`claw_nb.jupyter.widget_display`) does, in JupyterLab and
Notebook, for trusted outputs (all of a session's own). `js/transcript.js` reads the widget's
DOM: it keeps the newest content in view, lands on the final answer, and makes a pending
approval noticed (title, notification, keys, focus). What only JupyterLab's application can do
(its notifications, reloading an editor tab) goes through the claw-nb lab extension
(`labextension/`, `claw_nb.jupyter.lab_extension`), which the script reaches by a DOM event;
without it the script shows a toast of its own. Why not anywidget: it would carry the same
script as an ES module, but it cannot reach the application either, and it needs its own lab
extension in the server's environment.
"""

from __future__ import annotations

import itertools
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

_sequence = itertools.count(1)


@cache
def _source(name: str) -> str:
    return resources.files("claw_nb.jupyter").joinpath("js", name).read_text(encoding="utf-8")


def transcript_script(run_id: str) -> str:
    """The behaviour of run `run_id`'s live transcript (installed once per page and run)."""
    return f"{_source('transcript.js')}({json.dumps(run_id)});\n"


def files_changed_script(paths: list[str]) -> str:
    """Tells the page which files (absolute paths) the agent changed, so that editor tabs open
    on them reload from disk; a sequence number keeps a re-rendered output from repeating it."""
    token = f"{os.getpid()}-{next(_sequence)}"
    return (
        "window.__clawNb && window.__clawNb.filesChanged && "
        f"window.__clawNb.filesChanged({json.dumps(token)}, {json.dumps(paths)});\n"
    )


def changed_paths(workspace: str | None, tool: str, arguments: dict[str, Any] | None) -> list[str]:
    """The absolute path a successful file or notebook edit changed, as given under the
    workspace and with links resolved (the server's root may be either); [] if none."""
    from claw_nb.jupyter.changes import FILE_TOOLS, NOTEBOOK_TOOLS

    if workspace is None or tool not in FILE_TOOLS + NOTEBOOK_TOOLS or not arguments:
        return []
    path = arguments.get("path")
    if not isinstance(path, str) or not path.strip():
        return []
    try:
        from claw_nb.tools.workspace import resolve_in_workspace

        resolved = str(resolve_in_workspace(Path(workspace), path))
    except Exception:  # noqa: BLE001 - outside the workspace: no tab of ours shows it
        return []
    given = os.path.normpath(os.path.join(os.path.abspath(workspace), path))
    return [resolved] if given == resolved else [resolved, given]
