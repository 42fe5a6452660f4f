"""notebook_read / notebook_edit on real nbformat files, kernel_exec in a real IPython shell, and
(when jupyter-collaboration is installed) live edits through a real Jupyter server."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat import v4

from claw_nb.permissions import PermissionPolicy
from claw_nb.tools.base import ToolContext, ToolError
from claw_nb.tools.notebook import bind_notebook_tools, notebook_edit, notebook_read
from claw_nb.tools.notebook.kernel_exec import kernel_exec

ROOT = Path(__file__).resolve().parents[2]
RED = "\x1b[0;31m"
RESET = "\x1b[0m"


@pytest.fixture(autouse=True)
def _no_jupyter_session(monkeypatch):
    """Tests decide themselves which notebook (if any) the 'kernel' runs in."""
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    return ToolContext(workspace=workspace, runner=None)


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    sh.rl_next_input = None
    yield sh
    sh.rl_next_input = None


def make_notebook(path: Path, minor: int = 5) -> nbformat.NotebookNode:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    c0 = v4.new_code_cell("import math\nprint('hello')")
    c0.execution_count = 1
    c0.outputs = [v4.new_output("stream", name="stdout", text="hello\n")]
    c0.metadata["tags"] = ["setup"]
    c1 = v4.new_code_cell("1/0")
    c1.execution_count = 2
    c1.outputs = [
        v4.new_output(
            "error",
            ename="ZeroDivisionError",
            evalue="division by zero",
            traceback=[
                f"{RED}----------------------{RESET}",
                f"{RED}ZeroDivisionError{RESET}   Traceback (most recent call last)",
                "Cell In[2], line 1\n----> 1 1/0",
                f"{RED}ZeroDivisionError{RESET}: division by zero",
            ],
        )
    ]
    c2 = v4.new_markdown_cell("# Results\nSome *text*.")
    c2.metadata["custom"] = {"keep": True}
    c3 = v4.new_code_cell("df")
    c3.execution_count = 3
    c3.outputs = [
        v4.new_output(
            "execute_result",
            data={"text/plain": "   a\n0  1\n1  2", "text/html": "<table>...</table>"},
            execution_count=3,
        ),
        v4.new_output(
            "display_data", data={"image/png": "A" * 16384, "text/plain": "<Figure size 640x480>"}
        ),
        v4.new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(1, 41))),
    ]
    nb.cells = [c0, c1, c2, c3]
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)
    nbformat.write(nb, str(path))
    return nb


@pytest.fixture
def nb_path(workspace: Path) -> Path:
    path = workspace / "analysis.ipynb"
    make_notebook(path)
    return path


def cell_ids(path: Path) -> list[str]:
    return [c.get("id") for c in json.loads(path.read_text())["cells"]]


def jupyter_text(nb: dict) -> str:
    """The file text Jupyter writes for ``nb`` (indent 1, sorted keys, trailing newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# notebook_read


def test_read_lists_cells_with_ids_sources_and_output_summaries(ctx, nb_path):
    ids = cell_ids(nb_path)
    out = notebook_read.run(ctx, {"path": "analysis.ipynb"})
    assert out.startswith("analysis.ipynb: 4 cells, nbformat 4.5, kernel python3")
    assert f"[0] id={ids[0]} code (execution_count 1)" in out
    assert "     1\timport math\n     2\tprint('hello')" in out
    assert "stdout: hello" in out
    # errors in full, without ANSI codes
    assert "error: ZeroDivisionError: division by zero" in out
    assert "----> 1 1/0" in out
    assert "ZeroDivisionError   Traceback (most recent call last)" in out
    assert "\x1b" not in out
    assert f"[2] id={ids[2]} markdown" in out
    # rich outputs: text/plain shortened, other types by size
    assert "execute_result [3]:" in out and "0  1" in out
    assert "text/html (18 B)" in out
    assert "display_data: <Figure size 640x480>" in out
    assert "image/png (12 KB)" in out
    # long streams: first and last lines only
    assert "stdout (40 lines):" in out
    assert "line 1" in out and "line 40" in out and "line 20" not in out
    assert str(nb_path) in ctx.read_files
    assert ctx.read_files[str(nb_path)] == nb_path.stat().st_mtime


def test_read_pages_through_long_notebooks(ctx, nb_path):
    out = notebook_read.run(ctx, {"path": "analysis.ipynb", "start": 1, "limit": 2})
    assert "[1] id=" in out and "[2] id=" in out
    assert "[0] id=" not in out and "[3] id=" not in out
    assert "Use start=3 to read more" in out


def test_read_old_notebook_without_ids_uses_positions(ctx, workspace):
    path = workspace / "old.ipynb"
    make_notebook(path, minor=4)
    out = notebook_read.run(ctx, {"path": "old.ipynb"})
    assert "nbformat 4.4" in out
    assert "[1] id=cell-1 code" in out
    assert "no cell ids" in out
    result = notebook_edit.run(ctx, {"path": "old.ipynb", "cell_id": "cell-1", "source": "2/1"})
    assert "cell [1]" in result
    data = json.loads(path.read_text())
    assert data["nbformat_minor"] == 4
    assert all("id" not in c for c in data["cells"])  # 4.4 has no ids; none were written
    assert data["cells"][1]["source"] == ["2/1"]
    nbformat.validate(nbformat.read(str(path), as_version=nbformat.NO_CONVERT))


def test_read_refuses_paths_outside_the_workspace_and_non_notebooks(ctx, workspace, tmp_path):
    make_notebook(tmp_path / "outside.ipynb")
    with pytest.raises(ToolError, match="outside the workspace"):
        notebook_read.run(ctx, {"path": "../outside.ipynb"})
    with pytest.raises(ToolError, match="outside the workspace"):
        notebook_edit.run(ctx, {"path": str(tmp_path / "outside.ipynb"), "source": "x"})
    (workspace / "notes.txt").write_text("hi")
    with pytest.raises(ToolError, match="not a notebook"):
        notebook_read.run(ctx, {"path": "notes.txt"})
    with pytest.raises(ToolError, match="does not exist"):
        notebook_read.run(ctx, {"path": "missing.ipynb"})


def test_read_and_refuse_edit_of_nbformat3(ctx, workspace):
    nb4 = v4.new_notebook()
    nb4.cells = [v4.new_code_cell("x = 1"), v4.new_markdown_cell("hi")]
    path = workspace / "v3.ipynb"
    path.write_text(nbformat.writes(nbformat.convert(nb4, 3), version=3))
    before = path.read_bytes()
    out = notebook_read.run(ctx, {"path": "v3.ipynb"})
    assert "x = 1" in out and "nbformat 3" in out
    with pytest.raises(ToolError, match="nbformat 3"):
        notebook_edit.run(ctx, {"path": "v3.ipynb", "index": 0, "source": "y"})
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# notebook_edit on disk


def test_replace_clears_only_that_cells_outputs_and_keeps_everything_else_byte_for_byte(
    ctx, nb_path
):
    before_text = nb_path.read_text()
    before = json.loads(before_text)
    ids = cell_ids(nb_path)
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    out = notebook_edit.run(
        ctx, {"path": "analysis.ipynb", "cell_id": ids[0], "source": "import math\nprint(2)\n"}
    )
    assert f"id={ids[0]}" in out and "outputs and execution count were cleared" in out
    expected = copy.deepcopy(before)
    cell = expected["cells"][0]
    cell["source"] = ["import math\n", "print(2)\n"]
    cell["outputs"] = []
    cell["execution_count"] = None
    after_text = nb_path.read_text()
    assert after_text == jupyter_text(expected)  # same layout: indent 1, sorted, newline
    assert before_text.endswith("\n") and after_text.endswith("\n")
    after = json.loads(after_text)
    assert after["cells"][0]["metadata"] == {"tags": ["setup"]}
    assert after["cells"][1:] == before["cells"][1:]
    assert after["metadata"] == before["metadata"]
    assert after["nbformat_minor"] == 5


def test_replace_by_index_and_change_type(ctx, nb_path):
    before = json.loads(nb_path.read_text())
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    notebook_edit.run(
        ctx,
        {"path": "analysis.ipynb", "index": 1, "source": "Now *prose*", "cell_type": "markdown"},
    )
    after = json.loads(nb_path.read_text())
    cell = after["cells"][1]
    assert cell["cell_type"] == "markdown"
    assert "outputs" not in cell and "execution_count" not in cell
    assert cell["id"] == before["cells"][1]["id"]
    assert [c for i, c in enumerate(after["cells"]) if i != 1] == [
        c for i, c in enumerate(before["cells"]) if i != 1
    ]
    nbformat.validate(nbformat.read(str(nb_path), as_version=4))


def test_insert_after_cell_id_at_index_and_at_the_end(ctx, nb_path):
    before = json.loads(nb_path.read_text())
    ids = cell_ids(nb_path)
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    out = notebook_edit.run(
        ctx, {"path": "analysis.ipynb", "mode": "insert", "cell_id": ids[0], "source": "a = 1"}
    )
    assert "Inserted code cell [1]" in out
    notebook_edit.run(
        ctx,
        {
            "path": "analysis.ipynb",
            "mode": "insert",
            "index": 0,
            "source": "# Top",
            "cell_type": "markdown",
        },
    )
    notebook_edit.run(ctx, {"path": "analysis.ipynb", "mode": "insert", "source": "last"})
    after = json.loads(nb_path.read_text())
    sources = ["".join(c["source"]) for c in after["cells"]]
    assert sources[0] == "# Top"
    assert sources[2] == "a = 1"
    assert sources[-1] == "last"
    new = after["cells"][2]
    assert new["cell_type"] == "code" and new["outputs"] == [] and new["execution_count"] is None
    assert new["id"] not in ids and len({c["id"] for c in after["cells"]}) == 7
    kept = [c for c in after["cells"] if c["id"] in ids]
    assert kept == before["cells"]
    nbformat.validate(nbformat.read(str(nb_path), as_version=4))


def test_delete_keeps_the_other_cells(ctx, nb_path):
    before = json.loads(nb_path.read_text())
    ids = cell_ids(nb_path)
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    out = notebook_edit.run(ctx, {"path": "analysis.ipynb", "cell_id": ids[2], "mode": "delete"})
    assert "Deleted markdown cell [2]" in out
    after = json.loads(nb_path.read_text())
    assert after["cells"] == before["cells"][:2] + before["cells"][3:]


def test_insert_creates_a_missing_notebook(ctx, workspace):
    out = notebook_edit.run(ctx, {"path": "new/fresh.ipynb", "mode": "insert", "source": "x = 1"})
    assert "Created new/fresh.ipynb" in out
    nb = nbformat.read(str(workspace / "new" / "fresh.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert [c.source for c in nb.cells] == ["x = 1"]


def test_keeps_a_foreign_json_layout(ctx, workspace):
    nb = make_notebook(workspace / "tmp.ipynb")
    path = workspace / "two.ipynb"
    path.write_text(json.dumps(nb, indent=2) + "\n")  # e.g. another tool, indent 2, unsorted
    notebook_read.run(ctx, {"path": "two.ipynb"})
    notebook_edit.run(ctx, {"path": "two.ipynb", "index": 2, "source": "changed"})
    expected = json.loads(json.dumps(nb))
    expected["cells"][2]["source"] = "changed"  # sources stay strings, as in this file
    assert path.read_text() == json.dumps(expected, indent=2) + "\n"


def test_validation_failure_leaves_the_file_untouched(ctx, nb_path):
    data = json.loads(nb_path.read_text())
    data["cells"][2]["bogus"] = 1  # not allowed by the schema
    nb_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    before = nb_path.read_bytes()
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    with pytest.raises(ToolError, match="invalid notebook, so nothing was written"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 0, "source": "y = 2"})
    assert nb_path.read_bytes() == before
    assert not [p for p in nb_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_refuses_when_the_file_changed_since_the_read(ctx, nb_path):
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    data = json.loads(nb_path.read_text())
    data["cells"][0]["source"] = "changed by the user"
    nb_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    later = time.time() + 5
    os.utime(nb_path, (later, later))
    before = nb_path.read_bytes()
    with pytest.raises(ToolError, match="changed on disk since you last read it.*notebook_read"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 0, "source": "mine"})
    assert nb_path.read_bytes() == before
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 0, "source": "mine"})
    assert json.loads(nb_path.read_text())["cells"][0]["source"] == "mine"


def test_refuses_a_notebook_that_was_never_read(ctx, nb_path):
    before = nb_path.read_bytes()
    with pytest.raises(ToolError, match="notebook_read before editing"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 0, "source": "x"})
    assert nb_path.read_bytes() == before


def test_bad_addresses_and_arguments(ctx, nb_path):
    ids = cell_ids(nb_path)
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    with pytest.raises(ToolError, match="no cell with id 'nope'.*" + ids[0]):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "cell_id": "nope", "source": "x"})
    with pytest.raises(ToolError, match="out of range"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 9, "source": "x"})
    with pytest.raises(ToolError, match="needs `source`"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "index": 0})
    with pytest.raises(ToolError, match="give cell_id"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "source": "x"})
    with pytest.raises(ToolError, match="not 3"):
        notebook_edit.run(
            ctx, {"path": "analysis.ipynb", "cell_id": ids[0], "index": 3, "source": "x"}
        )
    with pytest.raises(ToolError, match="unknown argument"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "new_source": "x"})


# ---------------------------------------------------------------------------------------------
# The notebook the kernel runs in


def test_current_notebook_is_never_rewritten_a_cell_is_proposed(ctx, nb_path, shell, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    calls = []
    original = shell.set_next_input

    def spy(text, replace=False):
        calls.append((text, replace))
        original(text, replace=replace)

    monkeypatch.setattr(shell, "set_next_input", spy)
    read, edit = bind_notebook_tools(shell)
    before = nb_path.read_bytes()
    out = read.run(ctx, {"path": "analysis.ipynb"})
    assert "the notebook the kernel runs in" in out
    result = edit.run(ctx, {"path": "analysis.ipynb", "mode": "insert", "source": "df.describe()"})
    assert calls == [("df.describe()", False)]
    assert shell.rl_next_input == "df.describe()"
    assert "Proposed a new code cell below the running cell" in result
    assert "not rewritten" in result
    assert nb_path.read_bytes() == before
    # one proposal per run
    with pytest.raises(ToolError, match="already been proposed"):
        edit.run(ctx, {"path": "analysis.ipynb", "mode": "insert", "source": "more"})
    # replace and delete need live mode
    ids = cell_ids(nb_path)
    with pytest.raises(ToolError, match="live mode"):
        edit.run(ctx, {"path": "analysis.ipynb", "cell_id": ids[0], "source": "x"})
    with pytest.raises(ToolError, match="live mode"):
        edit.run(ctx, {"path": "analysis.ipynb", "cell_id": ids[0], "mode": "delete"})
    assert nb_path.read_bytes() == before
    assert len(calls) == 1


def test_current_notebook_markdown_proposal_and_other_notebooks(ctx, workspace, shell, monkeypatch):
    current = workspace / "current.ipynb"
    other = workspace / "other.ipynb"
    make_notebook(current)
    make_notebook(other)
    monkeypatch.setenv("JPY_SESSION_NAME", str(current))
    read, edit = bind_notebook_tools(shell)
    out = edit.run(
        ctx,
        {"path": "current.ipynb", "mode": "insert", "source": "# Notes", "cell_type": "markdown"},
    )
    assert shell.rl_next_input == "%%markdown\n# Notes"
    assert "%%markdown" in out
    # other notebooks are edited on disk as usual
    read.run(ctx, {"path": "other.ipynb"})
    edit.run(ctx, {"path": "other.ipynb", "index": 0, "source": "changed"})
    assert json.loads(other.read_text())["cells"][0]["source"] == ["changed"]


def test_no_proposal_from_a_background_run(ctx, nb_path, shell, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    read, edit = bind_notebook_tools(shell)
    read.run(ctx, {"path": "analysis.ipynb"})
    errors: list[str] = []

    def worker():
        try:
            edit.run(ctx, {"path": "analysis.ipynb", "mode": "insert", "source": "x"})
        except ToolError as e:
            errors.append(str(e))

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert errors and "in the background" in errors[0]
    assert shell.rl_next_input is None


def test_unbound_tools_still_protect_the_session_notebook(ctx, nb_path, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    before = nb_path.read_bytes()
    notebook_read.run(ctx, {"path": "analysis.ipynb"})
    with pytest.raises(ToolError, match="not rewritten"):
        notebook_edit.run(ctx, {"path": "analysis.ipynb", "mode": "insert", "source": "x"})
    assert nb_path.read_bytes() == before


def test_notebook_mode_outside_a_kernel_is_disk(shell):
    from claw_nb.tools.notebook.live import detect_notebook_mode

    mode = detect_notebook_mode(shell)
    assert mode.mode == "disk"
    assert "kernel" in mode.reason
    assert str(mode).startswith("disk (")
    assert detect_notebook_mode(shell, prefer="disk").reason == "disk mode chosen in the settings"


# ---------------------------------------------------------------------------------------------
# kernel_exec


def test_kernel_exec_on_the_main_thread(ctx, shell):
    shell.user_ns["numbers"] = [3, 1, 2]
    count = shell.execution_count
    out = kernel_exec.run(
        ctx,
        {
            "code": "import sys\nprint('sorted', sorted(numbers))\n"
            "print('warn', file=sys.stderr)\ntotal = sum(numbers)\ntotal * 2"
        },
    )
    assert "[stdout]\nsorted [1, 2, 3]" in out
    assert "[stderr]\nwarn" in out
    assert out.endswith("[result]\n12")
    assert shell.user_ns["total"] == 6  # state stays in the user's namespace
    assert shell.execution_count == count  # no cell was run
    assert kernel_exec.run(ctx, {"code": "x_unused = 1"}).startswith("(ran without output")


def test_kernel_exec_errors_are_short_and_leave_the_users_last_error_alone(ctx, shell):
    sys.last_traceback = marker = object()  # type: ignore[assignment]
    try:
        out = kernel_exec.run(ctx, {"code": "def f(v):\n    return v / 0\nf(1)"})
    finally:
        assert sys.last_traceback is marker
        del sys.last_traceback
    assert "[error]\nTraceback (most recent call last):" in out
    assert "return v / 0" in out
    assert out.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "claw_nb" not in out
    assert "SyntaxError" in kernel_exec.run(ctx, {"code": "def ("})


def test_kernel_exec_ipython_syntax_display_and_cap(ctx, shell):
    out = kernel_exec.run(ctx, {"code": "here = %pwd\nhere"})
    assert os.getcwd() in out
    out = kernel_exec.run(
        ctx, {"code": "from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))"}
    )
    assert "[display]" in out and "text/html" in out
    out = kernel_exec.run(ctx, {"code": "print('x' * 100_000)"})
    assert len(out) < 13_000 and "characters omitted" in out


def test_kernel_exec_from_a_worker_thread_captures_only_its_own_output(ctx, shell, capsys):
    started, release = threading.Event(), threading.Event()
    shell.user_ns.update(started=started, release=release, rows=list(range(5)))
    result: dict = {}

    def worker():
        result["out"] = kernel_exec.run(
            ctx,
            {
                "code": "print('worker before')\nstarted.set()\nrelease.wait(10)\n"
                "print('worker after')\nlen(rows)"
            },
        )

    t = threading.Thread(target=worker)
    t.start()
    assert started.wait(10)
    print("main thread output")  # while the worker is capturing
    release.set()
    t.join(10)
    assert not t.is_alive()
    out = result["out"]
    assert "worker before\nworker after" in out
    assert out.endswith("[result]\n5")
    assert "main thread" not in out
    assert "main thread output" in capsys.readouterr().out
    assert not type(sys.stdout).__name__.startswith("_ThreadRouted")


def test_kernel_exec_is_its_own_permission_kind():
    assert kernel_exec.kind == "kernel"
    for mode, expected in (
        ("ask", "ask"),
        ("accept-edits", "ask"),
        ("auto", "ask"),  # kernel code runs outside the sandbox: asks in every mode
        ("read-only", "deny"),
    ):
        action, _ = PermissionPolicy(mode=mode).decide("kernel_exec", "kernel", {"code": "1"})
        assert action == expected, mode


def test_importing_the_tools_stays_cheap():
    code = (
        "import sys, claw_nb.tools.notebook, claw_nb.tools.notebook.kernel_exec, claw_nb.jupyter.task_context, "
        "claw_nb.tools.notebook.live\n"
        "heavy = [m for m in ('nbformat', 'IPython', 'jupyter_server', 'pandas') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------------------------------------
# A real Jupyter server and kernel: disk mode always, live mode with jupyter-collaboration

SERVER_DEPS = ("jupyter_server", "ipykernel", "jupyter_client")
LIVE_DEPS = (*SERVER_DEPS, "jupyter_server_ydoc", "jupyter_nbmodel_client")
server_deps_missing = [m for m in SERVER_DEPS if importlib.util.find_spec(m) is None]
live_deps_missing = [m for m in LIVE_DEPS if importlib.util.find_spec(m) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, token: str, path: str, method: str = "GET", body: dict | None = None):
    req = urllib.request.Request(
        url + path, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    req.add_header("Authorization", f"token {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


class JupyterServer:
    """`jupyter lab` (or a bare jupyter_server) on a free port, with private Jupyter dirs."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.runtime = tmp_path / "runtime"
        for d in (self.root, self.runtime, tmp_path / "data", tmp_path / "config"):
            d.mkdir()
        self.token = "claw-test-token"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp_path / "server.log"
        self.proc: subprocess.Popen | None = None
        self.sessions: list[str] = []
        self.clients: list = []

    def start(self) -> JupyterServer:
        env = dict(os.environ)
        env.pop("JPY_SESSION_NAME", None)
        env.update(
            JUPYTER_RUNTIME_DIR=str(self.runtime),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        app = "jupyterlab" if importlib.util.find_spec("jupyterlab") else "jupyter_server"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                app,
                "--no-browser",
                "--allow-root",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
            ],
            env=env,
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        deadline = time.time() + 90
        while True:
            try:
                self.api("api/status")
                return self
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    pytest.fail("jupyter server did not start:\n" + self.log.read_text()[-3000:])
                time.sleep(0.3)

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        return _api(self.url, self.token, path, method, body)

    def kernel_for(self, notebook: str):
        """Open `notebook` in a session (as JupyterLab does) and connect to its kernel."""
        from jupyter_client import BlockingKernelClient

        session = self.api(
            "api/sessions",
            "POST",
            {
                "path": notebook,
                "name": notebook,
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        self.sessions.append(session["id"])
        conn = self.runtime / f"kernel-{session['kernel']['id']}.json"
        deadline = time.time() + 30
        while not conn.exists() and time.time() < deadline:
            time.sleep(0.2)
        kc = BlockingKernelClient(connection_file=str(conn))
        kc.load_connection_file()
        kc.start_channels()
        self.clients.append(kc)
        kc.wait_for_ready(timeout=60)
        return kc

    def stop(self) -> None:
        for kc in self.clients:
            kc.stop_channels()
        for sid in self.sessions:
            with contextlib.suppress(OSError):
                self.api(f"api/sessions/{sid}", "DELETE")
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def jupyter_server(tmp_path):
    server = JupyterServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def run_in_kernel(kc, code: str) -> tuple[dict, dict]:
    """(execute_reply content, the dict the code printed after RESULT)."""
    chunks: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            chunks.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=120, output_hook=hook)
    text = "".join(chunks)
    assert reply["content"]["status"] == "ok", text
    return reply["content"], json.loads(text.split("RESULT", 1)[1])


KERNEL_PRELUDE = """
import json
from pathlib import Path
from claw_nb.jupyter.task_context import notebook_mode, notebook_tools
from claw_nb.tools.base import ToolContext
shell = get_ipython()
ctx = ToolContext(workspace=Path({root!r}), runner=None)
res = {{}}
"""


@pytest.mark.slow
@pytest.mark.skipif(bool(server_deps_missing), reason=f"needs {server_deps_missing}")
def test_disk_mode_in_a_real_kernel(jupyter_server):
    root = jupyter_server.root
    make_notebook(root / "current.ipynb")
    before = (root / "current.ipynb").read_bytes()
    kc = jupyter_server.kernel_for("current.ipynb")
    collab = importlib.util.find_spec("jupyter_server_ydoc") is not None
    code = (
        KERNEL_PRELUDE.format(root=str(root))
        + f"""
from claw_nb.tools.notebook.kernel_session import current_notebook_path
mode = notebook_mode(shell)
res.update(mode=mode.mode, reason=mode.reason, current=str(current_notebook_path(shell)))
read, edit, kexec = notebook_tools(shell, prefer={"'disk'" if collab else "'auto'"})
res["read"] = read.run(ctx, {{"path": "current.ipynb"}})
res["insert"] = edit.run(ctx, {{"path": "current.ipynb", "mode": "insert", "source": "df.head()"}})
res["exec"] = kexec.run(ctx, {{"code": "import sys\\nprint('out')\\nprint('err', file=sys.stderr)\\n6*7"}})
print("RESULT" + json.dumps(res))
"""
    )
    reply, res = run_in_kernel(kc, code)
    assert res["current"] == str(root / "current.ipynb")
    if not collab:
        assert res["mode"] == "disk"
        assert "no jupyter-collaboration" in res["reason"]
    assert "the notebook the kernel runs in" in res["read"]
    assert "Proposed a new code cell" in res["insert"]
    # the frontend gets the cell through the execute_reply payload, below the running cell
    assert {"source": "set_next_input", "text": "df.head()", "replace": False} in reply["payload"]
    assert (root / "current.ipynb").read_bytes() == before
    # kernel_exec inside a real ipykernel: its output is captured, not sent to the cell
    assert res["exec"] == "[stdout]\nout\n[stderr]\nerr\n[result]\n42"
    # ... and from a worker thread while the kernel is idle (the widget's agent thread)
    start_worker = """
import threading
worker_result = {}
def _worker():
    worker_result["out"] = kexec.run(ctx, {"code": "print('from worker')\\nlen(res)"})
worker = threading.Thread(target=_worker)
worker.start()
"""
    run_in_kernel(kc, start_worker + "print('RESULT{}')")
    _, later = run_in_kernel(kc, "worker.join(30)\nprint('RESULT' + json.dumps(worker_result))")
    assert later["out"] == "[stdout]\nfrom worker\n[result]\n" + str(len(res))


@pytest.mark.slow
@pytest.mark.skipif(bool(live_deps_missing), reason=f"live mode needs {live_deps_missing}")
def test_live_mode_edits_the_shared_document(jupyter_server):
    from claw_nb.tools.notebook.kernel_session import ServerInfo
    from claw_nb.tools.notebook.live import LiveNotebook

    root = jupyter_server.root
    make_notebook(root / "live.ipynb")
    ids = cell_ids(root / "live.ipynb")
    kc = jupyter_server.kernel_for("live.ipynb")
    code = (
        KERNEL_PRELUDE.format(root=str(root))
        + f"""
mode = notebook_mode(shell)
read, edit, kexec = notebook_tools(shell)
res.update(mode=mode.mode, reason=mode.reason)
res["read"] = read.run(ctx, {{"path": "live.ipynb"}})
res["insert"] = edit.run(ctx, {{"path": "live.ipynb", "mode": "insert", "index": 0,
                               "source": "inserted = 1"}})
res["replace"] = edit.run(ctx, {{"path": "live.ipynb", "cell_id": "{ids[0]}",
                                "source": "print('replaced')"}})
res["delete"] = edit.run(ctx, {{"path": "live.ipynb", "cell_id": "{ids[2]}", "mode": "delete"}})
print("RESULT" + json.dumps(res))
"""
    )
    _, res = run_in_kernel(kc, code)
    assert res["mode"] == "live", res["reason"]
    assert "(live:" in res["read"] and f"id={ids[1]}" in res["read"]
    assert "Inserted code cell [0]" in res["insert"] and "backup" in res["insert"]
    assert "outputs and execution count were cleared" in res["replace"]
    assert "Deleted markdown cell" in res["delete"]
    backups = sorted((root / ".claw" / "backups").glob("live-*.json"))
    assert len(backups) == 3
    assert [c["id"] for c in json.loads(backups[0].read_text())["cells"]] == ids

    # a second client of the shared document sees the edits
    def snapshot(doc):
        return [(c["cell_type"], c["source"], len(c.get("outputs") or [])) for c in doc.cells()]

    server = ServerInfo(url=jupyter_server.url, token=jupyter_server.token, root_dir=str(root))
    assert LiveNotebook(server, "live.ipynb").run(snapshot) == [
        ("code", "inserted = 1", 0),
        ("code", "print('replaced')", 0),
        ("code", "1/0", 1),
        ("code", "df", 3),
    ]
    # and the server saves them to the file
    deadline = time.time() + 20
    while time.time() < deadline:
        nb = json.loads((root / "live.ipynb").read_text())
        if len(nb["cells"]) == 4 and "".join(nb["cells"][0]["source"]) == "inserted = 1":
            break
        time.sleep(0.3)
    else:
        pytest.fail("the server did not save the live edits")
    assert "".join(nb["cells"][1]["source"]) == "print('replaced')"
    assert "".join(nb["cells"][3]["outputs"][0]["data"]["text/plain"]) == "   a\n0  1\n1  2"
