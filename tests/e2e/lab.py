"""What the browser tests share: a `jupyter lab` server on 127.0.0.1 and Debian's Chromium.

`Lab` runs JupyterLab from any Python (the main environment's, or the Jupyter AI virtualenv's:
tests/e2e/jupyter_ai_env.py) with its config, runtime, settings and workspaces in a temporary
directory. The `page` fixture (tests/e2e/conftest.py) opens headless Chromium through Playwright.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "out"
CHROMIUM = (
    os.environ.get("CLAW_E2E_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
    or ""
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_browser() -> None:
    """Skip the test, saying why, when Playwright, Chromium or JupyterLab is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Python package playwright is not installed (pip install playwright)")
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if shutil.which("jupyter-lab") is None and shutil.which("jupyter") is None:
        pytest.skip("jupyterlab is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shot(page, name: str) -> Path:
    """A full-page screenshot in tests/out/, for people."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    page.screenshot(path=str(path), full_page=True)
    return path


class Lab:
    """A `jupyter lab` server in a temporary directory, stopped at the end; `python` is the
    interpreter it runs on (the Jupyter AI tests use a virtualenv's), `args` more options."""

    def __init__(
        self,
        root: Path,
        env: dict[str, str],
        theme: str | None = None,
        *,
        python: str = sys.executable,
        args: Sequence[str] = (),
        ready_timeout: float = 60,
    ):
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        home = root.parent / "jupyter-home"
        for sub in ("config", "runtime", "settings", "workspaces"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        news = home / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        if theme:
            (news / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
        env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        }
        env.pop("JPY_SESSION_NAME", None)
        self.log_path = root.parent / "jupyter-lab.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                python,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.port_retries=0",
                "--LabApp.news_url=None",
                "--LabApp.extension_manager=readonly",
                "--allow-root",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *args,
            ],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/api/status?token={self.token}", timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)  # a bind has no event to wait on
        raise TimeoutError(f"jupyter lab did not start in {timeout}s; see {self.log.name}")

    def open(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def log_text(self, start: int = 0) -> str:
        """The server's output from character `start` on."""
        self.log.flush()
        return self.log_path.read_text(errors="replace")[start:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
