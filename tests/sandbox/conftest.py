"""Fixtures of the sandbox tests (helpers in kit.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from claw_nb.sandbox import bwrap_status
from tests.sandbox.kit import Area, Server, host_scratch_parent


@pytest.fixture(scope="module")
def bwrap_ok() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip(
            "bubblewrap (bwrap) is not installed; install it (sudo apt-get install bubblewrap) "
            "to run the sandbox attack tests"
        )
    ok, reason = bwrap_status("bwrap")
    if not ok:
        if os.environ.get("CLAW_ALLOW_NO_SANDBOX"):
            pytest.skip(reason)
        pytest.fail(reason)


@pytest.fixture
def area(bwrap_ok, tmp_path) -> Area:
    parent = host_scratch_parent()
    root = Path(tempfile.mkdtemp(prefix="claw-sandbox-test-", dir=parent or tmp_path))
    try:
        ws = root / "ws"
        ws.mkdir()
        outside = root / "outside"
        (outside / "dir").mkdir(parents=True)
        (outside / "sentinel.txt").write_text("original\n")
        tmp_outside = tmp_path / "tmp-outside"
        tmp_outside.mkdir()
        (tmp_outside / "sentinel.txt").write_text("original\n")
        yield Area(root.resolve(), ws.resolve(), outside.resolve(), tmp_outside.resolve())
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()
