"""The tool tests' workspace (`ws`, resolved) and the context a tool runs in there (`ctx`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_nb.sandbox import PlainRunner
from claw_nb.tools import ToolContext


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    return d.resolve()


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(workspace=ws, runner=PlainRunner())
