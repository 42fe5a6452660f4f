"""What README.md and docs/ name exists: files, tests, and the schema version they state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `tests/test.sh` in a task folder is Harbor's verifier layout, not a file of this repository
NAMED = re.compile(
    r"(?<![\w/.])((?:claw_nb|tests|bench|notebooks|docs|binder)/[\w./-]+\.(?:py|md|ipynb|toml|sh))"
    r"(?:::(\w+))?"
)
TASK_LAYOUT = {"tests/test.sh"}


def _named() -> list[tuple[str, str, str | None]]:
    return [
        (doc.name, m.group(1), m.group(2))
        for doc in DOCS
        for m in NAMED.finditer(doc.read_text(encoding="utf-8"))
        if m.group(1) not in TASK_LAYOUT
    ]


def test_docs_name_files_that_exist():
    missing = [f"{doc}: {path}" for doc, path, _ in _named() if not (ROOT / path).exists()]
    assert missing == []


def test_docs_name_tests_that_exist():
    missing = [
        f"{doc}: {path}::{name}"
        for doc, path, name in _named()
        if name
        and (ROOT / path).exists()
        and not re.search(rf"def {name}\b", (ROOT / path).read_text(encoding="utf-8"))
    ]
    assert missing == []


def test_the_schema_doc_states_the_current_version():
    from claw_nb.log.schema import SCHEMA_VERSION

    text = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    stated = re.search(r"Schema\s+version (\d+)", text)
    assert stated is not None and int(stated.group(1)) == SCHEMA_VERSION


@pytest.mark.parametrize("probe", ["see `claw_nb/no_such_module.py`", "`tests/x.py::test_y`"])
def test_the_check_finds_a_named_path(probe):
    assert NAMED.search(probe) is not None
