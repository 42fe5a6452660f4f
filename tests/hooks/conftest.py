"""Every hooks test keeps its approvals and its hooks' HOME in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hooks.scripts import private_user_dirs


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch) -> Path:
    return private_user_dirs(monkeypatch, tmp_path)
