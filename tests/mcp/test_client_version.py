"""An environment with mcp 1.x (Jupyter AI 3.2's) gets one line saying why MCP is off, without
paying for an import that would fail."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import sys
from pathlib import Path

import pytest

from claw_nb.mcp import transport
from claw_nb.mcp.specs import ServerSpec


def fake_version(found: str | None):
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name != "mcp":
            return real(name)
        if found is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return found

    return version


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ("2.3.0", None),
        ("1.26.0", "MCP servers need the mcp package 2.x; this environment has mcp 1.26.0"),
        (None, "the mcp package is not installed"),
    ],
)
def test_the_client_library_is_judged_by_its_version(monkeypatch, found, expected):
    monkeypatch.setattr(importlib.metadata, "version", fake_version(found))
    problem = transport.client_unavailable()
    assert problem is None if expected is None else problem.startswith(expected)


def test_connect_refuses_mcp_1_without_importing_it(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(importlib.metadata, "version", fake_version("1.26.0"))
    monkeypatch.setitem(sys.modules, "mcp", None)  # an import would raise ImportError

    async def attempt():
        async with contextlib.AsyncExitStack() as stack:
            await transport.connect(
                stack, ServerSpec(name="x", source=".mcp.json", command="true"), tmp_path, None
            )

    with pytest.raises(transport.ClientUnavailable) as caught:
        asyncio.run(attempt())
    line = transport.describe_error(caught.value)
    assert line.startswith("MCP servers need the mcp package 2.x") and "\n" not in line


def test_a_version_planted_on_the_path_is_shown_escaped(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", fake_version("1.0\x1b[31mRED"))
    problem = transport.client_unavailable()
    assert "malformed version" in problem and "\x1b" not in problem and "1.0RED" in problem
