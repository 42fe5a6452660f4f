"""Which notebook this kernel runs in, and editing it live through Jupyter's collaboration.

A notebook that is open in JupyterLab must not be rewritten on disk behind JupyterLab's back: the
browser holds its own copy and would overwrite the change (or nag about it) on the next save. Two
ways around that:

- "disk" mode (always available): the notebook tools leave the current notebook's file alone and
  only propose one new cell below the running cell (`shell.set_next_input`).
- "live" mode: when the Jupyter server runs jupyter-collaboration and `jupyter_nbmodel_client` is
  importable in the kernel, the tools join the notebook's shared document (the same Y document
  JupyterLab edits) and insert, replace or delete cells there; JupyterLab shows the change at
  once and the server saves it.

Everything here uses only the standard library at import time; the live client (websockets,
pycrdt, jupyter_ydoc) is imported on first use.
"""

from __future__ import annotations

import os
import threading
from dataclasses import field
from pathlib import Path
from typing import Any

from claw_nb.records import record
from claw_nb.tools.notebook.kernel_session import (
    ServerInfo,
    current_notebook_path,
    find_kernel_session,
    kernel_id,
    server_request,
    server_sessions,
    session_file,
)

LIVE_TIMEOUT_S = 15.0

# ---------------------------------------------------------------------------------------------
# Mode detection


@record(frozen=True)
class NotebookMode:
    """How the notebook tools treat notebooks open in Jupyter; `str()` is a one-line report."""

    mode: str  # "live" | "disk"
    reason: str
    notebook: Path | None = None  # the notebook this kernel runs in
    server: ServerInfo | None = None  # live mode: the server holding the shared documents
    # live mode: resolved file path -> path relative to the server root, for every notebook
    # with a kernel session on that server (the current one included)
    rooms: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.mode} ({self.reason})"

    def room_for(self, path: Path) -> str | None:
        """The server-relative path of ``path`` when it is edited live, else None."""
        if self.mode != "live":
            return None
        return self.rooms.get(os.path.realpath(path))


def has_collaboration(server: ServerInfo) -> bool:
    """True if the server has jupyter-collaboration's `/api/collaboration/session` endpoint.

    A GET there answers 405 (the handler only takes PUT) when the extension is loaded, and 404
    when it is not.
    """
    try:
        status, _ = server_request(server, "api/collaboration/session/claw-probe.ipynb")
    except (OSError, ValueError):
        return False
    return status == 405


def live_client_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("jupyter_nbmodel_client") is not None


def detect_notebook_mode(shell: Any = None, prefer: str = "auto") -> NotebookMode:
    """ "live" when the notebook can be edited through the server's shared document, else "disk".

    ``prefer`` is "auto", "disk" (never go live) or "live" (same checks as auto; the reason says
    what is missing). The result's `reason` says why, in words fit for `%claw config`.
    """
    if prefer not in ("auto", "disk", "live"):
        raise ValueError(f"notebook mode must be auto, disk or live, got {prefer!r}")
    notebook = current_notebook_path(shell)
    if prefer == "disk":
        return NotebookMode("disk", "disk mode chosen in the settings", notebook)
    kid = kernel_id(shell)
    if kid is None:
        return NotebookMode("disk", "not running inside a Jupyter kernel", notebook)
    hit = find_kernel_session(kid)
    if hit is None:
        return NotebookMode(
            "disk",
            "no running Jupyter server (reachable with its token) lists this kernel",
            notebook,
        )
    server, session = hit
    notebook = notebook or session_file(server, session)
    if server.secure:
        return NotebookMode(
            "disk", f"server {server.url} uses HTTPS; live edits need HTTP", notebook
        )
    if not has_collaboration(server):
        return NotebookMode(
            "disk",
            f"the Jupyter server {server.url} has no jupyter-collaboration "
            "(pip install jupyter-collaboration, restart JupyterLab, for live edits)",
            notebook,
        )
    if not live_client_available():
        return NotebookMode(
            "disk",
            "jupyter-collaboration is on, but jupyter_nbmodel_client is not installed in the "
            "kernel's environment (pip install jupyter-nbmodel-client)",
            notebook,
        )
    rooms: dict[str, str] = {}
    for s in server_sessions(server):
        rel = s.get("path")
        f = session_file(server, s)
        if rel and f and str(rel).endswith(".ipynb"):
            rooms[os.path.realpath(f)] = str(rel)
    if notebook is not None and os.path.realpath(notebook) not in rooms:
        rel = session.get("path")
        if rel:
            rooms[os.path.realpath(notebook)] = str(rel)
    return NotebookMode(
        "live",
        f"jupyter-collaboration on {server.url}: cells are edited in the shared document",
        notebook,
        server,
        rooms,
    )


# ---------------------------------------------------------------------------------------------
# The shared document


class LiveNotebookError(RuntimeError):
    """Joining or editing the shared document failed; the message says why."""


class LiveNotebook:
    """One notebook's shared document on a Jupyter server with jupyter-collaboration.

    `run(fn)` connects (in a private thread with its own asyncio loop, so it works from the
    kernel's main thread while a cell runs and from worker threads alike), waits until the
    document is synced, calls ``fn(doc)`` with a :class:`LiveDoc`, then disconnects after
    flushing the changes. The server saves the document to disk shortly after.
    """

    def __init__(self, server: ServerInfo, room_path: str, timeout: float = LIVE_TIMEOUT_S):
        self.server = server
        self.room_path = room_path
        self.timeout = timeout

    def run(self, fn):
        result: dict[str, Any] = {}

        def worker() -> None:
            import asyncio

            def guarded(doc):
                try:
                    return fn(doc)
                except Exception as e:  # noqa: BLE001
                    result["fn_error"] = e
                    return None

            try:
                result["value"] = asyncio.run(self._session(guarded))
            except BaseException as e:  # noqa: BLE001 (handed to the calling thread)
                result["error"] = e

        t = threading.Thread(target=worker, name="claw-live-notebook", daemon=True)
        t.start()
        t.join(self.timeout + 5)
        if t.is_alive():
            raise LiveNotebookError(
                f"the shared document of {self.room_path} did not answer within {self.timeout:.0f} s"
            )
        if "fn_error" in result:  # raised by fn itself: the caller's own error, as it was
            raise result["fn_error"]
        if "error" in result:
            err = result["error"]
            if isinstance(err, LiveNotebookError):
                raise err
            raise LiveNotebookError(
                f"live edit of {self.room_path} failed: {type(err).__name__}: {err}"
            ) from err
        return result.get("value")

    async def _session(self, fn):
        import asyncio
        import logging

        from jupyter_nbmodel_client import NbModelClient, get_jupyter_notebook_websocket_url

        log = logging.getLogger("claw_nb.tools.notebook.live")
        ws_url = await asyncio.to_thread(
            get_jupyter_notebook_websocket_url,
            self.server.url,
            self.room_path,
            self.server.token or None,
            self.timeout,
            log,
        )
        client = NbModelClient(
            ws_url, path=self.room_path, username="claw", timeout=self.timeout, log=log
        )
        await client.start()
        try:
            if not client.synced:
                try:
                    await asyncio.wait_for(client.wait_until_synced(), self.timeout)
                except TimeoutError as e:
                    raise LiveNotebookError(
                        f"the shared document of {self.room_path} did not sync"
                    ) from e
            return fn(LiveDoc(client))
        finally:
            await client.stop()


def _ints(value: Any) -> Any:
    """Yjs stores numbers as floats: execution_count 3.0 -> 3 (recursively, whole floats only)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


class LiveDoc:
    """The operations the notebook tools need, on a synced `NbModelClient`."""

    def __init__(self, client: Any):
        self._client = client

    @property
    def nbformat_minor(self) -> int:
        return int(self._client.nbformat_minor)

    @property
    def nbformat(self) -> int:
        return int(self._client.nbformat)

    @property
    def metadata(self) -> dict:
        return dict(self._client.metadata)

    def cells(self) -> list[dict]:
        """Every cell as a plain nbformat-like dict (sources joined, `id` always present)."""
        out = []
        for i in range(len(self._client)):
            cell = _ints(dict(self._client[i]))
            src = cell.get("source", "")
            cell["source"] = "".join(src) if isinstance(src, list) else str(src)
            out.append(cell)
        return out

    def insert(self, index: int, cell_type: str, source: str) -> str:
        """Insert a new cell at ``index``; returns its id."""
        self._client.insert_cell(index, source, cell_type=cell_type)
        return str(self._client[index].get("id", ""))

    def replace(self, index: int, source: str, cell_type: str | None = None) -> None:
        """Set the cell's source (in place); a code cell also loses its outputs and count.

        Changing the type replaces the whole cell (same id and metadata)."""
        current = dict(self._client[index])
        if cell_type and cell_type != current.get("cell_type"):
            cell: dict[str, Any] = {
                "id": current.get("id"),
                "cell_type": cell_type,
                "metadata": current.get("metadata") or {},
                "source": source,
            }
            if cell_type == "code":
                cell.update(outputs=[], execution_count=None)
            self._client[index] = cell
            return
        self._client.set_cell_source(index, source)
        if current.get("cell_type") == "code" and (
            current.get("outputs") or current.get("execution_count") is not None
        ):
            self._clear_outputs(index)

    def _clear_outputs(self, index: int) -> None:
        # NbModelClient has no public "clear outputs" (see its FIXME); the Y cell is reached
        # through its document, under its lock and in one transaction, as its own methods do.
        client = self._client
        doc = client._doc
        with client._lock, doc.ydoc.transaction():
            ycell = doc.ycells[index]
            del ycell["outputs"][:]
            ycell["execution_count"] = None

    def delete(self, index: int) -> None:
        self._client.delete_cell(index)
