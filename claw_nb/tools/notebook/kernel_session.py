"""Which notebook this kernel runs in, and which Jupyter server holds it.

The answers come from the kernel's connection file, the environment Jupyter Server sets, and the
servers' `jpserver-<pid>.json` runtime files and `/api/sessions`; only the standard library is
imported. `claw_nb.tools.notebook.live` decides from them whether cells can be edited live.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from claw_nb.records import record

HTTP_TIMEOUT_S = 2.0


@record(frozen=True)
class ServerInfo:
    """One running Jupyter server, from its `jpserver-<pid>.json` runtime file."""

    url: str  # ends with '/', includes the base_url
    token: str
    root_dir: str
    pid: int | None = None
    secure: bool = False

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ServerInfo:
        url = str(info.get("url") or "")
        if url and not url.endswith("/"):
            url += "/"
        return cls(
            url=url,
            token=str(info.get("token") or ""),
            root_dir=str(info.get("root_dir") or ""),
            pid=info.get("pid"),
            secure=bool(info.get("secure")),
        )


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    return True


def _runtime_dirs() -> list[str]:
    dirs: list[str] = []
    conn = _connection_file()
    if conn:
        dirs.append(os.path.dirname(conn))
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # without jupyter_core, the connection file's directory is enough
        pass
    else:
        dirs.append(jupyter_runtime_dir())
    seen: list[str] = []
    for d in dirs:
        if d and d not in seen:
            seen.append(d)
    return seen


def list_servers() -> list[ServerInfo]:
    """Running Jupyter servers, read from `jpserver-*.json` in the runtime directory.

    This is what `jupyter_server.serverapp.list_running_servers()` does, minus its ~1 s import and
    minus deleting stale files: a dead server's file is skipped, not removed.
    """
    servers: list[ServerInfo] = []
    for runtime in _runtime_dirs():
        try:
            names = sorted(os.listdir(runtime))
        except OSError:
            continue
        for name in names:
            if not re.fullmatch(r"jpserver-.+\.json", name):
                continue
            try:
                with open(os.path.join(runtime, name), encoding="utf-8") as f:
                    info = json.load(f)
            except (OSError, ValueError):
                continue
            if not isinstance(info, dict) or not _pid_alive(info.get("pid")):
                continue
            server = ServerInfo.from_info(info)
            if server.url and server not in servers:
                servers.append(server)
    return servers


def _connection_file() -> str | None:
    """The running kernel's connection file, if this process is an ipykernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file

        return get_connection_file()
    except Exception:  # noqa: BLE001 (not inside a running kernel app)
        return None


def kernel_id(shell: Any = None) -> str | None:
    """The id Jupyter gave this kernel: the `<id>` in its connection file `kernel-<id>.json`."""
    conn = _connection_file()
    if not conn:
        return None
    m = re.fullmatch(r"kernel-(.+)\.json", os.path.basename(conn))
    return m.group(1) if m else None


def server_request(
    server: ServerInfo,
    path: str,
    method: str = "GET",
    body: dict | None = None,
    timeout: float = HTTP_TIMEOUT_S,
) -> tuple[int, Any]:
    """(status, decoded JSON body or None) of a request to the server's REST API."""
    url = server.url + path.lstrip("/")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if server.token:
        req.add_header("Authorization", f"token {server.token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        return e.code, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def server_sessions(server: ServerInfo, timeout: float = HTTP_TIMEOUT_S) -> list[dict]:
    """The server's `/api/sessions` (notebooks with a running kernel); [] when unreachable."""
    try:
        status, payload = server_request(server, "api/sessions", timeout=timeout)
    except (OSError, ValueError):
        return []
    if status != 200 or not isinstance(payload, list):
        return []
    return [s for s in payload if isinstance(s, dict)]


def find_kernel_session(kid: str) -> tuple[ServerInfo, dict] | None:
    """The server and `/api/sessions` entry whose kernel is ``kid``."""
    for server in list_servers():
        for session in server_sessions(server):
            kernel = session.get("kernel") or {}
            if kernel.get("id") == kid:
                return server, session
    return None


def session_file(server: ServerInfo, session: dict) -> Path | None:
    """The notebook file of an `/api/sessions` entry, under the server's root directory."""
    rel = session.get("path") or (session.get("notebook") or {}).get("path")
    if not rel or not server.root_dir:
        return None
    return Path(server.root_dir) / rel


def _as_notebook_path(value: Any, base: str | None = None) -> Path | None:
    if not isinstance(value, str) or not value.strip().endswith(".ipynb"):
        return None
    p = Path(value.strip())
    if not p.is_absolute():
        p = Path(base or os.getcwd()) / p
    return p


def current_notebook_path(shell: Any = None) -> Path | None:
    """The notebook file this kernel runs in, or None (plain IPython, console, unknown).

    In order: the `JPY_SESSION_NAME` environment variable (Jupyter Server sets it to the
    notebook's path when it starts the kernel); the `__session__` / `__vsc_ipynb_file__` names in
    the user namespace (ipykernel and VS Code); the `jupyter_session` field of the kernel's
    connection file; the server's `/api/sessions`, matched by the kernel id in the connection
    file's name (2 s timeout per server).
    """
    found = _as_notebook_path(os.environ.get("JPY_SESSION_NAME"))
    if found:
        return found
    ns = getattr(shell, "user_ns", None) or {}
    for name in ("__session__", "__vsc_ipynb_file__"):
        found = _as_notebook_path(ns.get(name))
        if found:
            return found
    conn = _connection_file()
    if conn:
        try:
            with open(conn, encoding="utf-8") as f:
                found = _as_notebook_path(json.load(f).get("jupyter_session"))
        except (OSError, ValueError, AttributeError):
            found = None
        if found:
            return found
    kid = kernel_id(shell)
    if kid:
        hit = find_kernel_session(kid)
        if hit:
            return session_file(*hit)
    return None
