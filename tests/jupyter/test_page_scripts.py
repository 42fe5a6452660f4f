"""What the live transcript hands the page, seen from the kernel: the widget output without a
repr, the page behaviour in the script output, the files an edit changed, the lab extension's
files and packaging. The page side itself runs in tests/e2e/test_transcript_front.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from claw_nb.jupyter import lab_extension
from claw_nb.jupyter.page_scripts import changed_paths, files_changed_script, transcript_script
from claw_nb.testing import call, text, tool_calls

ROOT = Path(__file__).resolve().parents[2]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shown(widget_shell, monkeypatch):
    """tests/conftest.py's widget_shell, every display and update kept in order."""
    log: list[tuple[str | None, dict]] = []

    def display(*objs, raw=False, display_id=None, update=False, **kwargs):
        log.append((display_id, objs[0] if raw else {"object": objs[0]}))

    monkeypatch.setattr("IPython.display.display", display)
    widget_shell.shown = log
    return widget_shell


def _run(sh, options: str, task: str):
    m = sh.magics_manager.registry["ClawMagics"]
    sh.run_cell_magic("claw", options, task)
    end = time.monotonic() + 30
    while m._busy() and time.monotonic() < end:
        time.sleep(0.02)
    assert not m._busy()
    return m.last_view


def test_the_widget_output_has_no_repr_for_nbconvert_or_github(shown, claw_env):
    claw_env.server.queue(text("The answer."))
    view = _run(shown, "", "a question")
    first_id, first = shown.shown[0]
    assert first_id is None and WIDGET_MIME in first
    assert first[WIDGET_MIME]["model_id"] == view.widget.model_id
    assert first["text/plain"] == ""  # not "VBox(children=(HBox(children=(HTML(value=..."
    assert not any("VBox(" in json.dumps(bundle) for _, bundle in shown.shown)


def test_the_script_output_carries_the_page_behaviour_until_the_run_ends(shown, claw_env):
    claw_env.server.queue(text("done"))
    view = _run(shown, "", "a question")
    scripts = [b for i, b in shown.shown if i == f"claw-js-{view.run_id}"]
    assert "claw needs you" in scripts[0]["application/javascript"]
    assert f"({json.dumps(view.run_id)});" in scripts[0]["application/javascript"]
    assert scripts[-1] == {"text/plain": ""}  # the saved notebook runs nothing


def test_an_edit_tells_the_page_which_file_changed(shown, claw_env):
    ws = claw_env.workspace
    (ws / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "a.py"})),
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"})
        ),
        text("Changed."),
    )
    view = _run(shown, "--mode accept-edits", "set x to 2")
    scripts = [
        b.get("application/javascript", "") for i, b in shown.shown if i == f"claw-js-{view.run_id}"
    ]
    told = [s for s in scripts if "filesChanged(" in s]
    assert len(told) == 1  # the edit, not the read
    assert json.dumps([str((ws / "a.py").resolve())]) in told[0]


def test_the_final_answer_is_marked_for_the_page_to_land_on(shown, claw_env):
    claw_env.server.queue(text("Here it is:\n\n```python\nprint(1)\n```"))
    view = _run(shown, "", "a question")
    marked = [c for c in view.body.children if "claw-answer" in c._dom_classes]
    assert len(marked) == 1 and "claw-text" in marked[0]._dom_classes


def test_changed_paths_are_absolute_inside_the_workspace_only(tmp_path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    real = str((ws / "sub" / "f.py").resolve())
    assert changed_paths(str(ws), "write_file", {"path": "sub/f.py"}) == [real]
    assert changed_paths(str(ws), "notebook_edit", {"path": "n.ipynb"}) == [
        str((ws / "n.ipynb").resolve())
    ]
    assert changed_paths(str(ws), "write_file", {"path": "../outside.py"}) == []
    assert changed_paths(str(ws), "read_file", {"path": "sub/f.py"}) == []
    assert changed_paths(None, "write_file", {"path": "sub/f.py"}) == []
    link = tmp_path / "link"
    link.symlink_to(ws, target_is_directory=True)
    both = changed_paths(str(link), "edit_file", {"path": "sub/f.py"})
    assert both == [real, str(link / "sub" / "f.py")]  # the server's root may be the link


def test_a_changed_file_is_told_once_even_if_the_output_renders_again():
    first, second = files_changed_script(["/a"]), files_changed_script(["/a"])
    assert first != second  # a sequence number the page remembers
    assert "filesChanged(" in first and '["/a"]' in first


def test_the_page_script_parses_as_javascript(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the browser tests run the script anyway)")
    for name, source in (
        ("transcript.js", transcript_script("abc123")),
        ("remoteEntry.js", (lab_extension.source_dir() / "static" / "remoteEntry.js").read_text()),
    ):
        path = tmp_path / name
        path.write_text(source)
        out = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_the_lab_extension_is_a_prebuilt_extension_jupyterlab_can_load():
    source = lab_extension.source_dir()
    package = json.loads((source / "package.json").read_text())
    assert package["name"] == lab_extension.NAME
    build = package["jupyterlab"]["_build"]
    assert (source / build["load"]).is_file() and build["extension"] == "./extension"
    # pip installs it where JupyterLab looks: <prefix>/share/jupyter/labextensions/claw-nb
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["data-files"]
    target = f"share/jupyter/labextensions/{lab_extension.NAME}"
    shipped = {
        (where, Path(f).relative_to("claw_nb/jupyter/labextension").as_posix())
        for where, files in data.items()
        for f in files
    }
    assert shipped == {(target, "package.json"), (target + "/static", build["load"])}


def test_linking_the_extension_into_an_environment(tmp_path):
    target = lab_extension.link(str(tmp_path))
    assert target == tmp_path / "share/jupyter/labextensions/claw-nb"
    assert os.path.realpath(target) == os.path.realpath(lab_extension.source_dir())
    assert lab_extension.link(str(tmp_path)) == target  # again: replaces its own link
    os.unlink(target)
    target.mkdir()
    (target / "package.json").write_text('{"name": "someone-else"}')
    assert lab_extension.main(["--prefix", str(tmp_path)]) == 1  # not ours: left alone
    assert (target / "package.json").read_text() == '{"name": "someone-else"}'
