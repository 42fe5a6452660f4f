"""Issue 10, class 4: files the agent writes into the workspace never run in the user's kernel
through an import of an installed module (claw_nb's lazy imports, or the user's own).

Each test starts a fresh Python process (a fresh ``sys.modules``) whose working directory is a
workspace full of poisoned modules, with ``''`` first on ``sys.path`` as in a kernel, and runs
a real IPython InteractiveShell there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# stdlib names too (ones IPython has not imported at start-up: claw_nb imports tomllib later)
POISONED = (
    "nbformat",
    "duckdb",
    "pandas",
    "jsonschema",
    "ipywidgets",
    "litellm",
    "tomllib",
    "statistics",
)

SHELL = textwrap.dedent("""
    import sys
    assert sys.path[0] == "", sys.path[:3]
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "claw_nb")
    # claw_nb's lazy imports: nbformat (notebook validation), duckdb (the log)
    from claw_nb.tools.notebook import document
    print("validate:", document.validate_notebook({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                   "cells": []}))
    from claw_nb.config import load_config
    load_config(".")  # tomllib
    from claw_nb.log import store
    con = store.connect(sys.argv[1])
    con.close()
    # the user's own next cell
    result = shell.run_cell("import pandas, jsonschema, statistics; print(pandas.__file__)")
    assert result.success, result.error_in_exec
    for name in ("nbformat", "duckdb", "pandas", "jsonschema", "tomllib", "statistics"):
        print(name, sys.modules[name].__file__)
    shell.run_cell("import my_helper; print(my_helper.VALUE)")
""")


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    canary = tmp_path / "canary"
    for name in POISONED:
        (ws / f"{name}.py").write_text(
            f"open({str(canary)!r}, 'a').write('{name} ran\\n')\nraise SystemExit('poisoned')\n"
        )
    (ws / "my_helper.py").write_text("VALUE = 'the user module still imports'\n")
    return ws, canary


def test_workspace_modules_do_not_shadow_installed_ones_after_load_ext(tmp_path):
    ws, canary = _workspace(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONSAFEPATH", None)
    p = subprocess.run(
        [sys.executable, "-c", SHELL, str(tmp_path / "claw.duckdb")],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not canary.exists(), canary.read_text()
    assert p.returncode == 0, p.stderr[-3000:]
    assert "validate: None" in p.stdout
    for line in p.stdout.splitlines():
        if line.split()[:1] and line.split()[0] in POISONED:
            assert str(ws) not in line, line
    assert "the user module still imports" in p.stdout


def test_without_the_guard_the_attack_works(tmp_path):
    """The control: the same workspace poisons a plain process, so the test above can fail."""
    ws, canary = _workspace(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONSAFEPATH", None)
    subprocess.run(
        [sys.executable, "-c", "import nbformat"], cwd=ws, env=env, capture_output=True, timeout=60
    )
    assert canary.read_text() == "nbformat ran\n"


def test_the_cli_does_not_import_workspace_modules(tmp_path):
    ws, canary = _workspace(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "claw_nb", "sessions", "--db", str(tmp_path / "claw.duckdb")],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not canary.exists(), canary.read_text() + p.stderr[-2000:]


def test_an_entry_is_judged_again_once_it_leads_elsewhere(tmp_path, monkeypatch):
    """The answer per `sys.path` entry is kept while the entry leads to the same directory: one
    that comes to lead into the working directory (a link swapped) is left out at the next
    import, and one that stops doing so comes back."""
    from claw_nb.import_guard import installed_path

    ws, outside, link = tmp_path / "ws", tmp_path / "lib", tmp_path / "entry"
    ws.mkdir()
    outside.mkdir()
    (ws / "sub").mkdir()
    link.symlink_to(outside)
    monkeypatch.chdir(ws)
    monkeypatch.setattr(sys, "path", [str(link), "", str(tmp_path / "absent")])
    assert installed_path() == [str(link), str(tmp_path / "absent")]
    link.unlink()
    link.symlink_to(ws / "sub")
    assert installed_path() == [str(tmp_path / "absent")]
    (tmp_path / "absent").symlink_to(ws)
    assert installed_path() == []
    link.unlink()
    link.symlink_to(outside)
    assert installed_path() == [str(link)]


def test_an_entry_inside_a_zip_is_judged_again_when_its_folder_is_repointed(tmp_path, monkeypatch):
    """`os.stat` fails for a path inside a zip (zipimport still imports from it): the answer is
    kept by the deepest part that exists, so a link the agent repoints at its own zip is seen."""
    import zipfile

    from claw_nb.import_guard import installed_path

    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "evil").mkdir(parents=True)
    outside.mkdir()
    for folder, module in ((outside, "placeholder"), (ws / "evil", "nbformat_evil")):
        with zipfile.ZipFile(folder / "bundle.zip", "w") as bundle:
            bundle.writestr(f"lib/{module}.py", "")
    (ws / "deps").symlink_to(outside)
    entry = str(ws / "deps" / "bundle.zip" / "lib")
    monkeypatch.chdir(ws)
    monkeypatch.setattr(sys, "path", [entry])
    assert installed_path() == [entry]
    (ws / "deps").unlink()
    (ws / "deps").symlink_to(ws / "evil")
    assert installed_path() == []
