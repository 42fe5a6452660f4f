"""`claw_nb.realpaths.realpath` answers what `os.path.realpath` answers, for every kind of path
the checks resolve (the kernel answers for paths that exist, the walk for the others)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claw_nb.realpaths import realpath


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "sub" / "file.txt").write_text("x")
    (root / "name (deleted)").write_text("a real file with an unlucky name")
    (root / "to_sub").symlink_to("sub")
    (root / "to_file").symlink_to(root / "sub" / "file.txt")
    (root / "chain").symlink_to("to_sub")
    (root / "dangling").symlink_to("nowhere/at/all")
    (root / "outside").symlink_to(tmp_path)
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")
    return root


CASES = [
    "",
    "sub",
    "sub/",
    "sub/file.txt",
    "sub/file.txt/",
    "sub/../sub/deep",
    "to_sub/deep/..",
    "to_sub/../to_file",
    "to_file",
    "chain/deep",
    "dangling",
    "dangling/more",
    "missing",
    "missing/../sub",
    "outside",
    "outside/ws/to_sub",
    "loop_a",
    "name (deleted)",
    ".",
    "..",
]


@pytest.mark.parametrize("case", CASES)
def test_the_same_answer_as_os_path_realpath(tree, case, monkeypatch):
    monkeypatch.chdir(tree)
    for path in (case, str(tree / case) if case else str(tree)):
        assert realpath(path) == os.path.realpath(path), path
        assert realpath(Path(path)) == os.path.realpath(Path(path)), path


def test_a_path_with_a_nul_byte_is_refused_as_realpath_refuses_it():
    with pytest.raises(ValueError):
        os.path.realpath("a\0b")
    with pytest.raises(ValueError):
        realpath("a\0b")
