"""End to end in a real browser: JupyterLab, the widget transcript, an approval click.

Starts `jupyter lab` on 127.0.0.1 with a token and a scripted model server, opens a notebook in
headless Chromium (Debian's, driven by Playwright), runs `%load_ext claw_nb` and `%%claw` cells
and clicks the buttons a user would click. It proves that the kernel stays responsive while
the agent runs (widget callbacks and other cells run), that an approval reaches the agent, that
a second `%%claw` queues, and that Stop ends a run; then runs notebooks/quickstart.ipynb as a
person would. Screenshots go to tests/out/ for people: e2e_jupyterlab_approval.png (an approval
pending, a run queued, a plain cell answered), e2e_jupyterlab.png, quickstart_jupyterlab.png.

Skipped only when Chromium or Playwright is missing on this machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from claw_nb.testing import ScriptedServer, call, delay, text, tool_calls
from tests.e2e.lab import ROOT, Lab, require_browser, shot

RAN = re.compile(r"\[(\*|\d+)\]")

pytestmark = pytest.mark.slow


def _code(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": secrets.token_hex(4),
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [_code(c) for c in cells],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


def _lab_env(tmp_path: Path, theme: str | None = None, **overrides: str):
    root = tmp_path / "lab"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    env.update(overrides)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return root, Lab(root, env, theme)


@pytest.fixture
def lab_env(tmp_path, request):
    """(scripted server, lab root directory, Lab) with the kernels pointed at the server;
    `@pytest.mark.parametrize("lab_env", ["JupyterLab Dark"], indirect=True)` picks a theme."""
    require_browser()
    server = ScriptedServer().start()
    root, lab = _lab_env(
        tmp_path,
        getattr(request, "param", None),
        CLAW_MODEL="openai/scripted",
        CLAW_API_BASE=server.url,
        CLAW_API_KEY="sk-test",
        CLAW_DB=str(tmp_path / "claw.duckdb"),
    )
    try:
        yield server, root, lab
    finally:
        lab.stop()
        server.stop()


@pytest.fixture
def demo_lab(tmp_path):
    """(lab root directory, Lab) with no model configured: the quickstart's demo server."""
    require_browser()
    root, lab = _lab_env(tmp_path, CLAW_DEMO="scripted")
    try:
        yield root, lab
    finally:
        lab.stop()


def _run_cell(page, index: int) -> None:
    """Select cell `index` and run it (Shift+Enter) until its prompt shows it ran or runs."""
    from playwright.sync_api import expect

    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    for _ in range(3):
        _dismiss_kernel_dialog(page)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(cell.locator(".jp-InputPrompt")).to_have_text(RAN, timeout=10_000)
            return
        except AssertionError:  # the key press was lost (the page was still busy): again
            continue
    raise AssertionError(f"cell {index} did not run")


def _cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _scroll_top(page) -> float:
    """How far the notebook is scrolled (whichever of its elements scrolls)."""
    return page.evaluate(
        "() => Math.max(0, ...[...document.querySelectorAll('.jp-NotebookPanel-notebook,"
        " .jp-NotebookPanel .jp-WindowedPanel-outer')].map(e => e.scrollTop))"
    )


def _dismiss_kernel_dialog(page) -> None:
    """On a loaded machine JupyterLab sometimes asks for a kernel although the notebook names
    one; take the one it proposes."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.first.inner_text():
        dialog.first.locator(".jp-mod-accept").click()


def _open_notebook(page, lab: Lab, name: str) -> None:
    page.goto(lab.open(name))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.wait_for_timeout(500)
    _dismiss_kernel_dialog(page)
    # The kernel is ready when the toolbar's status says idle.
    page.wait_for_function(
        "() => { const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        " return e && e.getAttribute('data-status') === 'idle'; }",
        timeout=90_000,
    )


def test_claw_cell_in_jupyterlab_approve_queue_and_stop(lab_env, page):
    from playwright.sync_api import expect

    server, root, lab = lab_env
    (root / "utils.py").write_text("def add(a, b):\n    return a - b\n")
    server.queue(
        tool_calls(call("read_file", {"path": "utils.py"})),
        text(
            "The bug: `add` subtracts. I will fix it.\n\n"
            "<tool_call>\n<function=edit_file>\n<parameter=path>\nutils.py\n</parameter>\n"
            "<parameter=old_string>\na - b\n</parameter>\n<parameter=new_string>\na + b\n"
            "</parameter>\n</function>\n</tool_call>"
        ),
        text("Fixed **add** in `utils.py`: it now returns `a + b`."),
        text("Second task done: nothing else to change."),
        delay(4, tool_calls(call("list_files", {}))),
    )
    _write_notebook(
        root / "e2e.ipynb",
        [
            "%load_ext claw_nb",
            "%%claw fix the add function in utils.py\nit should add",
            "%%claw\nanything else?",
            "print('kernel is free:', 6 * 7)",
            "%%claw --new\na slow task, stopped midway",
        ],
    )
    _open_notebook(page, lab, "e2e.ipynb")

    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    approve = transcript.locator(".claw-yes")
    approve.wait_for()
    prompt = transcript.locator(".claw-approval").inner_text()
    assert "edit_file" in prompt and "a + b" in prompt  # the tool and its arguments (a diff)
    assert (root / "utils.py").read_text().endswith("a - b\n")  # nothing edited before approval

    # While the agent waits for the click, the kernel is idle: another %%claw queues and a
    # plain cell runs at once.
    _run_cell(page, 2)
    expect(_cell(page, 2).locator(".claw-state")).to_contain_text("queued")
    _run_cell(page, 3)
    _cell(page, 3).locator(".jp-OutputArea-output").filter(has_text="kernel is free: 42").wait_for()
    shot(page, "e2e_jupyterlab_approval.png")

    approve.click()
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert (root / "utils.py").read_text() == "def add(a, b):\n    return a + b\n"
    body = transcript.inner_text()
    assert "Fixed add in utils.py" in " ".join(body.replace("*", "").split())
    assert "read_file" in body and "edit_file" in body
    assert "utils.py (edited, +1 -1)" in transcript.locator(".claw-changes").inner_text()
    assert "<tool_call>" not in body

    expect(_cell(page, 2).locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert "Second task done" in _cell(page, 2).locator(".claw-transcript").inner_text()
    # Continuity: the second cell's request carried the first task's conversation.
    second_request = server.requests[3]["messages"]
    assert [m["role"] for m in second_request].count("user") == 2

    # Stop during a slow model call: the run ends at the next safe point (before the tool call
    # the model asked for), as "interrupted".
    _run_cell(page, 4)
    stuck = _cell(page, 4).locator(".claw-transcript")
    stop_state = stuck.locator(".claw-state")
    expect(stop_state).to_have_text("running")
    before = _scroll_top(page)
    stuck.locator(".claw-stop").click()
    expect(stop_state).to_have_text("stopped by you", timeout=30_000)
    assert abs(_scroll_top(page) - before) < 40  # Stop does not make the notebook jump
    assert "list_files" not in stuck.inner_text()  # the call after Stop did not run
    shot(page, "e2e_jupyterlab.png")


@pytest.mark.parametrize("page", [3800], indirect=True)  # tall: the whole notebook in one shot
def test_quickstart_in_jupyterlab(demo_lab, page):
    """The quickstart as a person runs it in JupyterLab: live transcripts, one approval."""
    from playwright.sync_api import expect

    root, lab = demo_lab
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    _open_notebook(page, lab, "quickstart.ipynb")

    def index_of(fragment: str) -> int:
        """The index of the code cell whose source has `fragment`."""
        found = page.wait_for_function(  # editors fill in lazily: wait for the text
            "(f) => 1 + [...document.querySelectorAll('.jp-Notebook .jp-Cell')].findIndex(c =>"
            " c.classList.contains('jp-CodeCell') &&"
            " c.querySelector('.jp-InputArea-editor').textContent.includes(f))",
            arg=fragment,
            timeout=30_000,
        )
        return found.json_value() - 1

    for fragment in ("def ollama_has", "def demo_model", "tempfile.mkdtemp", "%load_ext"):
        _run_cell(page, index_of(fragment))
    expect(
        _cell(page, index_of("def ollama_has")).locator(".jp-OutputArea-output")
    ).to_contain_text("no model configured: using the scripted demo server")

    fix = _cell(page, index_of("Fix utils.py"))
    _run_cell(page, index_of("Fix utils.py"))
    expect(fix.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert "test_utils.py (new, +13 -0)" in fix.locator(".claw-changes").inner_text()

    tests = _cell(page, index_of("Now run the tests."))
    _run_cell(page, index_of("Now run the tests."))
    approval = tests.locator(".claw-approval")
    expect(approval).to_contain_text("run_command")
    expect(approval).to_contain_text("python -m pytest -q test_utils.py")
    tests.locator(".claw-yes").click()
    expect(tests.locator(".claw-state")).to_have_text("completed", timeout=120_000)
    transcript = tests.locator(".claw-transcript")
    expect(transcript).to_contain_text("approved: run_command")
    # The command ran (its exit code is in the card); whether pytest passed depends on the
    # machine's sandbox, not on the notebook, so either of the demo's answers will do.
    expect(transcript.locator(".claw-tool")).to_contain_text("exit code")
    expect(transcript).to_contain_text(re.compile("All tests pass|The tests did not pass"))

    for fragment in ("read_text()", "%claw sessions", "log = %claw log"):
        _run_cell(page, index_of(fragment))
    expect(
        _cell(page, index_of("log = %claw log")).locator(".jp-OutputArea-output")
    ).to_contain_text("run_command")
    shot(page, "quickstart_jupyterlab.png")


def _save(page, root: Path, name: str) -> dict:
    """Save with Ctrl+S and return the notebook as the file now has it."""
    before = (root / name).stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    end = time.monotonic() + 20
    while time.monotonic() < end and (root / name).stat().st_mtime_ns == before:
        time.sleep(0.2)
    return json.loads((root / name).read_text())


def _shut_down_kernels(lab: Lab) -> None:
    request = urllib.request.Request(f"{lab.url}/api/sessions?token={lab.token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        sessions = json.loads(r.read())
    for session in sessions:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{lab.url}/api/sessions/{session['id']}?token={lab.token}", method="DELETE"
            ),
            timeout=20,
        ).close()


def _static_outputs(nb: dict, index: int) -> list[dict]:
    return [
        o
        for o in nb["cells"][index]["outputs"]
        if "claw-static" in "".join(o.get("data", {}).get("text/html", ""))
    ]


@pytest.mark.parametrize("page", [1000], indirect=True)
def test_transcripts_survive_save_close_and_reopen_without_the_kernel(lab_env, page):
    """Item 1 of issue 14: a saved notebook shows its transcripts with the kernel gone, and a
    run the kernel never finished says so instead of "running"."""
    from playwright.sync_api import expect

    server, root, lab = lab_env
    (root / "utils.py").write_text("def add(a, b):\n    return a - b\n")
    server.queue(
        tool_calls(call("read_file", {"path": "utils.py"})),
        tool_calls(
            call("edit_file", {"path": "utils.py", "old_string": "a - b", "new_string": "a + b"})
        ),
        text("Fixed **add**. Try it:\n\n```python\nfrom utils import add\nadd(2, 3)\n```"),
        delay(60, text("never seen")),
    )
    _write_notebook(
        root / "keep.ipynb",
        [
            "%load_ext claw_nb",
            "%%claw --mode accept-edits\nfix add in utils.py",
            "%%claw --new\na run the kernel will not finish",
        ],
    )
    _open_notebook(page, lab, "keep.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    done = _cell(page, 1).locator(".claw-transcript .claw-state")
    expect(done).to_have_text("completed", timeout=60_000)
    # while the live widget is on the page its static copy stays out of sight
    expect(_cell(page, 1).locator(".claw-static")).to_be_hidden()
    _run_cell(page, 2)
    expect(_cell(page, 2).locator(".claw-transcript .claw-state")).to_have_text("running")
    nb = _save(page, root, "keep.ipynb")
    shot(page, "e2e_transcript_live.png")

    saved = _static_outputs(nb, 1)
    assert len(saved) == 1, nb["cells"][1]["outputs"]
    data = saved[0]["data"]
    html = "".join(data["text/html"])
    assert "edit_file" in html and "+    return a + b" in html and "completed" in html
    assert "Fixed <strong>add</strong>" in html
    assert "Fixed **add**" in "".join(data["text/markdown"])
    assert "utils.py (edited, +1 -1)" in "".join(data["text/plain"])
    unfinished = "".join(_static_outputs(nb, 2)[0]["data"]["text/plain"])
    assert "interrupted: the kernel stopped before this run ended" in unfinished

    page.goto("about:blank")
    _shut_down_kernels(lab)
    _open_notebook(page, lab, "keep.ipynb")  # a new kernel: the widget models are gone
    first = _cell(page, 1)
    expect(first.locator(".claw-static")).to_be_visible(timeout=30_000)
    expect(first.locator(".claw-static")).to_contain_text("Fixed add")
    expect(first.locator(".claw-static")).to_contain_text("utils.py (edited, +1 -1)")
    expect(first.locator(".claw-static .claw-diff")).to_contain_text("+    return a + b")
    page.wait_for_timeout(2000)  # the widget manager gives up on the dead models
    for dead in ("Error displaying widget", "Loading widget"):  # hidden by the static copy
        expect(first.get_by_text(dead)).to_be_hidden()
    second = _cell(page, 2)
    expect(second.locator(".claw-static")).to_contain_text("interrupted: the kernel stopped")
    expect(second.get_by_text("Error displaying widget")).to_be_hidden()
    assert second.locator(".claw-stop").count() == 0  # no dead Stop button
    shot(page, "e2e_transcript_reopened.png")


@pytest.mark.parametrize("page", [900], indirect=True)  # short: the approval starts below the fold
def test_a_pending_approval_is_brought_into_view(lab_env, page):
    """Item 2 of issue 14: the approval card is scrolled into view, the header says so."""
    from playwright.sync_api import expect

    server, root, lab = lab_env
    server.queue(
        tool_calls(
            call("write_file", {"path": "notes.txt", "content": "hello\n"}),
            content="I will write the file now.\n\n" + "Some reasoning.\n\n" * 40,
        ),
        text("Wrote notes.txt."),
    )
    _write_notebook(
        root / "ask.ipynb",
        [
            "%load_ext claw_nb",
            "# a long cell above\n" * 45,
            "%%claw\nwrite notes.txt",
            "# and one below\n" * 45,
        ],
    )
    _open_notebook(page, lab, "ask.ipynb")
    _run_cell(page, 0)
    title = page.title()
    page.evaluate(
        "() => Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})"
    )  # the person is in another tab
    _run_cell(page, 2)
    page.evaluate(
        "() => document.querySelectorAll('.jp-NotebookPanel .jp-WindowedPanel-outer')"
        ".forEach(e => e.scrollTop = 0)"
    )  # the person reads the top of the notebook
    transcript = _cell(page, 2).locator(".claw-transcript")
    approval = transcript.locator(".claw-approval")
    expect(transcript.locator(".claw-yes")).to_be_visible(timeout=60_000)
    expect(transcript.locator(".claw-state")).to_have_text("waiting for you")
    expect(approval).to_be_in_viewport()
    expect(approval).to_contain_text("+hello")  # the new file as a diff
    page.wait_for_function("() => document.title.includes('claw needs you')")
    shot(page, "e2e_approval_in_view.png")
    transcript.locator(".claw-yes").click()
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert (root / "notes.txt").read_text() == "hello\n"
    assert page.title() == title  # back once answered


def test_code_from_an_answer_goes_into_a_new_cell_and_the_clipboard(lab_env, page):
    """Item 5 of issue 14: a cell the agent proposes (notebook_edit insert into this notebook)
    appears below the %%claw cell of a widget run; Insert as cell puts an answer's code block
    there too (the front end inserts: no jupyter-collaboration); Copy puts it on the clipboard."""
    from playwright.sync_api import expect

    server, root, lab = lab_env
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    server.queue(
        tool_calls(
            call(
                "notebook_edit",
                {"path": "code.ipynb", "mode": "insert", "source": "answer = 41 + 1"},
            )
        ),
        text("Use this:\n\n```python\nimport math\nprint(math.tau)\n```\n\nand done."),
    )
    _write_notebook(
        root / "code.ipynb",
        [
            "%load_ext claw_nb",
            "%%claw --mode accept-edits\nhow do I print tau?",
            "print('the cell after')",
        ],
    )
    _open_notebook(page, lab, "code.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)

    def sources() -> list[str]:
        return page.evaluate(
            "() => [...document.querySelectorAll("
            "'.jp-Notebook .jp-Cell .jp-InputArea-editor')].map(e => e.textContent)"
        )

    expect(_cell(page, 2).locator(".jp-InputArea-editor")).to_contain_text(
        "answer = 41 + 1", timeout=20_000
    )
    expect(transcript).to_contain_text("proposed a code cell below this one")
    actions = transcript.locator(".claw-code-actions")
    expect(actions).to_have_count(1)
    expect(actions).to_contain_text("python: import math")
    actions.locator(".claw-insert").click()
    expect(_cell(page, 2).locator(".jp-InputArea-editor")).to_contain_text(
        "print(math.tau)", timeout=20_000
    )
    assert [" ".join(x.split()) for x in sources()[1:]] == [
        "%%claw --mode accept-editshow do I print tau?",  # editors' text has no newlines
        "import mathprint(math.tau)",
        "answer = 41 + 1",
        "print('the cell after')",
    ]
    actions.locator(".claw-copy").click()
    page.wait_for_function(
        "() => navigator.clipboard.readText().then(t => t.includes('tau'))", timeout=20_000
    )
    shot(page, "e2e_insert_cell.png")


def _luminance(rgb: str) -> float:
    values = [float(x) for x in re.findall(r"[\d.]+", rgb)[:3]]
    linear = [
        v / 255 / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4
        for v in values
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(foreground: str, background: str) -> float:
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@pytest.mark.parametrize("lab_env", ["JupyterLab Dark", "JupyterLab Light"], indirect=True)
def test_diff_hunk_headers_are_readable_in_both_themes(lab_env, page):
    """Item 7 of issue 14: the hunk header of a diff has >= 4.5:1 contrast (1.98:1 was dark)."""
    from playwright.sync_api import expect

    server, root, lab = lab_env
    (root / "a.py").write_text("x = 1\n")
    server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"})
        ),
        text("done"),
    )
    _write_notebook(
        root / "theme.ipynb", ["%load_ext claw_nb", "%%claw --mode accept-edits\nset x to 2"]
    )
    _open_notebook(page, lab, "theme.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    hunk = transcript.locator(".claw-diff span", has_text="@@").first
    colours = hunk.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e.closest('pre')).backgroundColor]"
    )
    ratio = _contrast(*colours)
    assert ratio >= 4.5, (colours, ratio)
    theme = (
        "dark" if "Dark" in page.evaluate("() => document.body.dataset.jpThemeName") else "light"
    )
    shot(page, f"e2e_diff_{theme}.png")


def test_a_kernel_restart_mid_run_leaves_no_running_transcript(lab_env, page):
    """Item 1 of issue 14, in the open page: after a restart the run's transcript says it was
    interrupted, with no Stop button that no longer reaches anything."""
    from playwright.sync_api import expect

    server, root, lab = lab_env
    server.queue(delay(60, text("never seen")))
    _write_notebook(root / "restart.ipynb", ["%load_ext claw_nb", "%%claw\na long task"])
    _open_notebook(page, lab, "restart.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    cell = _cell(page, 1)
    expect(cell.locator(".claw-transcript .claw-state")).to_have_text("running", timeout=30_000)
    with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}", timeout=10) as r:
        kernel = json.loads(r.read())[0]["kernel"]["id"]
    urllib.request.urlopen(
        urllib.request.Request(
            f"{lab.url}/api/kernels/{kernel}/restart?token={lab.token}", method="POST"
        ),
        timeout=60,
    ).close()
    # Restarting interrupts the kernel first, and the interrupt stops the run: the live
    # transcript then says so. A kernel that dies without that (a crash) leaves a transcript
    # that goes silent, and the static copy, which says interrupted, takes its place.
    page.wait_for_function(
        """() => {
          const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[1];
          const visible = (el) => el && el.getClientRects().length > 0;
          const stat = cell.querySelector('.claw-static');
          const state = cell.querySelector('.claw-transcript .claw-state');
          return (visible(stat) && stat.textContent.includes('interrupted: the kernel stopped'))
            || (visible(state) && /^stopped/.test(state.textContent));
        }""",
        timeout=30_000,
    )
    expect(cell.locator(".claw-stop")).to_be_hidden()  # no Stop button left to press
    expect(cell.get_by_text("running", exact=True)).to_be_hidden()
    shot(page, "e2e_kernel_restarted.png")
