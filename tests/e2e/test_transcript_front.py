"""The transcript's page behaviour in a real browser (issue 25, items 3-6).

One JupyterLab (with claw's lab extension, linked from this checkout through JUPYTER_PATH) and
one Chromium serve the whole module; each test opens its own notebook (its own kernel) in a
fresh page and talks to its own scripted model server (`%%claw --api-base`). It shows that a
pending approval is noticed while the person types in another cell or looks at another tab
(title, JupyterLab notification, or the toast of our own without the extension) and can be
answered from the keyboard; that the transcript follows its newest content, keeps a reader's
place and lands on the final answer; that editor tabs open on files the agent changed reload
(or say why not); and that a saved notebook carries no widget repr into nbconvert's HTML.

Screenshots go to tests/out/e2e_front_*.png. The time from the approval card appearing to the
title changing is printed (`pytest -s`) and written to tests/out/e2e_front_timings.json.
"""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest

from claw_nb.jupyter.lab_extension import NAME, source_dir
from claw_nb.testing import ScriptedServer, call, delay, text, tool_calls
from tests.e2e.lab import CHROMIUM, CHROMIUM_ARGS, OUT
from tests.e2e.lab import require_browser as _require_browser
from tests.e2e.lab import shot as _shot
from tests.e2e.test_jupyterlab import (
    _cell,
    _lab_env,
    _open_notebook,
    _run_cell,
    _save,
    _write_notebook,
)

pytestmark = pytest.mark.slow

PREFIX = "\u23f5 claw needs you \u00b7 "
TIMINGS: dict[str, float] = {}

# Records, in the page, when an approval card appears and when the title changes.
WATCH = """() => {
  window.__m = {};
  new MutationObserver(() => {
    if (!window.__m.card && document.querySelector('.claw-approval .claw-yes'))
      window.__m.card = performance.now();
  }).observe(document.body, {childList: true, subtree: true, attributes: true,
                             attributeFilter: ['class']});
  new MutationObserver(() => {
    if (!window.__m.title && document.title.includes('claw needs you'))
      window.__m.title = performance.now();
  }).observe(document.querySelector('title'), {childList: true, characterData: true,
                                               subtree: true});
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, with claw's lab extension on its JUPYTER_PATH."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("front")
    data = tmp / "jupyter-data" / "labextensions"
    data.mkdir(parents=True)
    (data / NAME).symlink_to(source_dir(), target_is_directory=True)
    root, lab = _lab_env(
        tmp,
        CLAW_MODEL="openai/scripted",
        CLAW_API_KEY="sk-test",
        CLAW_DB=str(tmp / "claw.duckdb"),
        JUPYTER_PATH=str(data.parent),
    )
    try:
        yield root, lab
    finally:
        lab.stop()
        if TIMINGS:
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / "e2e_front_timings.json").write_text(json.dumps(TIMINGS, indent=1))


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    height = getattr(request, "param", 1000)
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        yield page
    finally:
        with contextlib.suppress(Exception):  # the last state, for a person (or a failure)
            name = request.node.name.removeprefix("test_")[:40]
            _shot(page, f"e2e_front_last_{name}.png")
            (OUT / f"e2e_front_console_{name}.txt").write_text("\n".join(console))
        context.close()


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


class _Workspace:
    """The module's Lab, each test in a workspace of its own (JupyterLab would reopen the tabs
    of the test before, and `.jp-Notebook .jp-Cell` would find their cells)."""

    def __init__(self, lab, name: str):
        self.lab, self.name = lab, name

    def open(self, notebook: str) -> str:
        lab = self.lab
        return f"{lab.url}/lab/workspaces/{self.name}/tree/{notebook}?token={lab.token}"


def _open(page, lab, notebook: str) -> None:
    _open_notebook(page, _Workspace(lab, notebook.replace(".", "-")), notebook)


def _claw(server: ScriptedServer, task: str, options: str = "") -> str:
    return f"%%claw --api-base {server.url} {options}\n{task}"


def _toast(page, fragment: str):
    """JupyterLab's notification toast that says `fragment`."""
    return page.locator(".Toastify__toast").filter(has_text=fragment)


def _active_class(page) -> str:
    return page.evaluate("() => (document.activeElement && document.activeElement.className) || ''")


def _editor_text(cell) -> str:
    return cell.locator(".jp-InputArea-editor").inner_text()


def _card_has_focus(page) -> bool:
    return page.evaluate(
        "() => !!document.activeElement"
        " && document.activeElement.classList.contains('claw-approval')"
    )


def _answer_by_key(page, key: str) -> None:
    """Once the card has the focus (and keeps it: keys within 0.3 s of it are dropped)."""
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.classList.contains('claw-approval')"
    )
    page.wait_for_timeout(700)
    assert _card_has_focus(page)
    page.keyboard.press(key)


def _title_latency(page) -> float:
    page.wait_for_function("() => window.__m && window.__m.card && window.__m.title")
    return page.evaluate("() => window.__m.title - window.__m.card")


# -- item 3: approvals are noticed ----------------------------------------------------------


def test_an_approval_is_noticed_while_you_type_in_another_cell(lab, page, server):
    from playwright.sync_api import expect

    root, jlab = lab
    server.queue(
        delay(3, tool_calls(call("write_file", {"path": "notes.txt", "content": "hello\n"}))),
        text("Wrote notes.txt."),
    )
    _write_notebook(
        root / "typing.ipynb",
        ["%load_ext claw_nb", _claw(server, "write notes.txt"), ""],
    )
    _open(page, jlab, "typing.ipynb")
    title = page.title()
    page.evaluate(WATCH)
    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    expect(transcript.locator(".claw-state")).to_have_text("running", timeout=30_000)

    # the person types in the cell below while the approval comes (y, n and a among the keys)
    scratch = _cell(page, 2)
    scratch.locator(".jp-InputArea-editor").click()
    typed = "any_value = 'yes, no, always'  # typing on"
    page.keyboard.type(typed, delay=90)
    expect(transcript.locator(".claw-yes")).to_be_visible(timeout=30_000)
    page.keyboard.type(" and on", delay=90)
    latency = _title_latency(page)
    TIMINGS["approval_card_to_title_ms_typing"] = latency
    print(f"\napproval card -> title changed: {latency:.2f} ms (typing in another cell)")

    assert page.title() == PREFIX + title
    expect(_toast(page, "claw needs you: Approve write_file")).to_be_visible()
    # focus stayed where the person types; their keys went to their cell, not to the card
    assert "cm-content" in _active_class(page)
    assert typed + " and on" in _editor_text(scratch)
    expect(transcript.locator(".claw-state")).to_have_text("waiting for you")
    assert not (root / "notes.txt").exists()
    _shot(page, "e2e_front_approval_typing.png")

    # the notification's Show brings the card to the keyboard: y approves
    _toast(page, "claw needs you").get_by_role("button", name="Show").click()
    expect(transcript.locator(".claw-keys")).to_contain_text("y approve")
    _answer_by_key(page, "y")
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert (root / "notes.txt").read_text() == "hello\n"
    assert page.title() == title
    expect(_toast(page, "claw needs you")).to_have_count(0)
    assert "approved: write_file" in transcript.inner_text()
    assert _editor_text(scratch).strip() == typed + " and on"  # the y went to the card


def test_an_approval_behind_another_tab_is_noticed_and_answered_by_key(lab, page, server):
    """The person reads a file in another JupyterLab tab: title and notification; Show brings
    the notebook to the front with the card focused; n denies. With nothing typed, a card that
    appears in view gets the focus by itself."""
    from playwright.sync_api import expect

    root, jlab = lab
    (root / "readme_other.py").write_text("# another file\n")
    server.queue(
        delay(4, tool_calls(call("write_file", {"path": "denied.txt", "content": "x\n"}))),
        text("Not written."),
        tool_calls(call("write_file", {"path": "second.txt", "content": "y\n"})),
        text("Second done."),
    )
    _write_notebook(
        root / "behind.ipynb",
        [
            "%load_ext claw_nb",
            _claw(server, "write denied.txt"),
            _claw(server, "write second"),
            "# Shift+Enter above selects this cell (command mode)",
        ],
    )
    _open(page, jlab, "behind.ipynb")
    page.evaluate(WATCH)
    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    expect(transcript.locator(".claw-state")).to_have_text("running", timeout=30_000)
    page.locator(".jp-DirListing-item", has_text="readme_other.py").dblclick()
    page.locator(".jp-FileEditor .cm-content").first.wait_for()
    page.locator(".jp-FileEditor").first.click()  # reading, not typing
    toast = _toast(page, "claw needs you: Approve write_file")
    expect(toast).to_be_visible(timeout=30_000)
    latency = _title_latency(page)
    TIMINGS["approval_card_to_title_ms_other_tab"] = latency
    print(f"\napproval card -> title changed: {latency:.2f} ms (notebook behind another tab)")
    assert page.title().startswith(PREFIX)
    expect(transcript).to_be_hidden()  # the notebook's tab is not in front
    _shot(page, "e2e_front_approval_other_tab.png")

    toast.get_by_role("button", name="Show").click()
    expect(transcript.locator(".claw-approval")).to_be_in_viewport()
    _answer_by_key(page, "n")
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert "denied: write_file" in transcript.inner_text()
    assert not (root / "denied.txt").exists()
    assert not page.title().startswith(PREFIX)

    # the card in view, reached from the keyboard: Tab reaches its buttons, Enter presses one.
    # (Shift+Enter on the last cell leaves JupyterLab in a cell editor, which counts as typing
    # elsewhere, so the card does not take the focus by itself here: the person clicks it.)
    _run_cell(page, 2)
    second = _cell(page, 2).locator(".claw-transcript")
    expect(second.locator(".claw-approval")).to_be_in_viewport(timeout=30_000)
    second.locator(".claw-approval b").first.click()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.closest('.claw-approval')",
        timeout=10_000,
    )
    for _ in range(4):  # past the card's "all arguments" to its first button
        page.keyboard.press("Tab")
        if "claw-yes" in _active_class(page):
            break
    assert "claw-yes" in _active_class(page)
    page.keyboard.press("Enter")
    expect(second.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert (root / "second.txt").read_text() == "y\n"


def test_without_the_lab_extension_a_toast_of_our_own_says_so(lab, page, server):
    from playwright.sync_api import expect

    root, jlab = lab
    page.route(re.compile(r".*/extensions/claw-nb/static/.*"), lambda route: route.abort())
    server.queue(
        delay(2, tool_calls(call("write_file", {"path": "plain.txt", "content": "p\n"}))),
        text("Wrote plain.txt."),
    )
    (root / "bare_other.py").write_text("# typed into while claw works\n")
    _write_notebook(root / "bare.ipynb", ["%load_ext claw_nb", _claw(server, "write plain"), ""])
    _open(page, jlab, "bare.ipynb")
    assert page.evaluate("() => typeof window.__clawNbLab") == "undefined"
    page.evaluate(WATCH)
    _run_cell(page, 0)
    _run_cell(page, 1)
    # the person types in a file in another tab
    page.locator(".jp-DirListing-item", has_text="bare_other.py").dblclick()
    page.locator(".jp-FileEditor .cm-content").first.click()
    page.keyboard.type("typing here", delay=60)
    transcript = _cell(page, 1).locator(".claw-transcript")
    toast = page.locator(".claw-toast")
    expect(toast).to_contain_text("claw needs you: Approve write_file", timeout=30_000)
    TIMINGS["approval_card_to_title_ms_no_extension"] = _title_latency(page)
    assert page.title().startswith(PREFIX)
    _shot(page, "e2e_front_approval_toast.png")
    expect(transcript).to_be_hidden()
    toast.get_by_role("button", name="Show").click()  # the notebook's tab comes to the front
    expect(transcript.locator(".claw-approval")).to_be_in_viewport()
    _answer_by_key(page, "y")
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=60_000)
    expect(toast).to_have_count(0)
    assert not page.title().startswith(PREFIX)


# -- item 4: the end of a run is in view ----------------------------------------------------

BOX_STATE = """(sel) => {
  const box = document.querySelector(sel + ' .claw-scroll');
  const body = box.querySelector('.claw-body');
  return {fromBottom: body.getBoundingClientRect().bottom - box.getBoundingClientRect().bottom,
          boxTop: box.getBoundingClientRect().top, boxBottom: box.getBoundingClientRect().bottom};
}"""


def _inside(page, locator, box_selector: str) -> bool:
    """Whether `locator`'s element is fully visible inside the transcript box and the page."""
    return locator.evaluate(
        """(el, sel) => {
          const r = el.getBoundingClientRect();
          const b = document.querySelector(sel + ' .claw-scroll').getBoundingClientRect();
          const v = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')
                    .getBoundingClientRect();
          return r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.top >= v.top - 1
                 && r.bottom <= v.bottom + 1 && r.height > 0;
        }""",
        box_selector,
    )


@pytest.mark.parametrize("page", [900], indirect=True)
def test_the_transcript_follows_keeps_your_place_and_lands_on_the_answer(lab, page, server):
    from playwright.sync_api import expect

    root, jlab = lab
    for i in range(12):
        (root / f"part{i}.txt").write_text("".join(f"line {n} of part {i}\n" for n in range(3)))
    server.queue(
        *[
            delay(
                0.6, tool_calls(call("read_file", {"path": f"part{i}.txt"}), content=f"Part {i}.")
            )
            for i in range(12)
        ],
        text(
            "## The answer\n\nAll twelve parts read. Run this to see them:\n\n"
            "```python\nprint(open('part0.txt').read())\n```\n"
        ),
    )
    _write_notebook(
        root / "long.ipynb",
        ["%load_ext claw_nb", _claw(server, "read every part", "--mode auto"), "print('after')"],
    )
    _open(page, jlab, "long.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    cell = _cell(page, 1)
    sel = "." + cell.locator(".claw-transcript").evaluate(
        "e => [...e.classList].find(c => c.startsWith('claw-live-'))"
    )
    cards = cell.locator(".claw-tool")
    expect(cards).to_have_count(4, timeout=30_000)
    page.wait_for_function(
        "(sel) => { const b = document.querySelector(sel + ' .claw-scroll');"
        " return b.scrollHeight > b.clientHeight + 50; }",
        arg=sel,
    )
    # following: the newest card is at the bottom of the box
    state = page.evaluate(BOX_STATE, sel)
    assert state["fromBottom"] < 30, state

    # the person scrolls up in the box to read: new cards do not move what they read
    box = cell.locator(".claw-scroll")
    box.hover()
    page.mouse.wheel(0, -250)
    page.wait_for_timeout(300)
    read = cell.locator(".claw-tool").nth(1)
    before_top = read.evaluate("e => e.getBoundingClientRect().top")
    count = cards.count()
    expect(cards).to_have_count(count + 2, timeout=30_000)
    page.wait_for_timeout(200)
    after_top = read.evaluate("e => e.getBoundingClientRect().top")
    assert abs(after_top - before_top) < 4, (before_top, after_top)
    assert page.evaluate(BOX_STATE, sel)["fromBottom"] > 100

    # back at the bottom, it follows again; at the end it lands on the final answer
    box.hover()
    page.mouse.wheel(0, 5000)
    expect(cell.locator(".claw-state")).to_have_text("completed", timeout=90_000)
    answer = cell.locator(".claw-answer")
    expect(answer).to_contain_text("All twelve parts read")
    page.wait_for_timeout(1600)  # the landing repeats while the last rows render
    assert _inside(page, answer.locator("h2"), sel), page.evaluate(BOX_STATE, sel)
    assert _inside(page, cell.locator(".claw-copy"), sel)
    assert _inside(page, cell.locator(".claw-insert"), sel)
    _shot(page, "e2e_front_landed_on_answer.png")


@pytest.mark.parametrize("page", [800], indirect=True)
def test_the_page_stays_where_you_read(lab, page, server):
    """A run that ends while the person reads another part of the notebook does not move it."""
    from playwright.sync_api import expect

    root, jlab = lab
    server.queue(delay(3, text("Done, quietly.")))
    _write_notebook(
        root / "elsewhere.ipynb",
        ["%load_ext claw_nb", "# a long cell\n" * 60, _claw(server, "say done"), "# below\n" * 40],
    )
    _open(page, jlab, "elsewhere.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 2)
    expect(_cell(page, 2).locator(".claw-state")).to_have_text("running", timeout=30_000)
    scroller = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer")
    scroller.evaluate("e => e.scrollTop = 0")
    page.locator(".jp-Notebook .jp-Cell").first.click()  # command mode, not typing
    expect(_cell(page, 2).locator(".claw-state")).to_have_text("completed", timeout=60_000)
    page.wait_for_timeout(1600)
    assert scroller.evaluate("e => e.scrollTop") == 0


# -- item 5: editor tabs on files the agent changed -----------------------------------------


def _editor(page, name: str):
    """The editor of the file tab `name` (its tab brought to the front)."""
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name).click()
    return page.locator(".jp-FileEditor:visible .cm-content")


def test_open_editor_tabs_show_the_agents_edit_or_say_why_not(lab, page, server):
    from playwright.sync_api import expect

    root, jlab = lab
    (root / "clean.py").write_text("x = 1\n")
    (root / "dirty.py").write_text("y = 1\n")
    server.queue(
        tool_calls(
            call("edit_file", {"path": "clean.py", "old_string": "x = 1", "new_string": "x = 2"}),
            call("edit_file", {"path": "dirty.py", "old_string": "y = 1", "new_string": "y = 2"}),
        ),
        text("Both files changed."),
    )
    _write_notebook(
        root / "edits.ipynb",
        ["%load_ext claw_nb", _claw(server, "change both", "--mode accept-edits")],
    )
    _open(page, jlab, "edits.ipynb")
    _run_cell(page, 0)
    for name in ("clean.py", "dirty.py"):
        page.locator(".jp-DirListing-item", has_text=name).dblclick()
        expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name)).to_be_visible()
    editor = _editor(page, "dirty.py")
    expect(editor).to_contain_text("y = 1")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# mine, not saved")
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="edits.ipynb").click()
    _run_cell(page, 1)
    expect(_cell(page, 1).locator(".claw-state")).to_have_text("completed", timeout=60_000)
    assert (root / "dirty.py").read_text() == "y = 2\n"

    # the clean tab now shows the agent's text, and says so
    expect(_toast(page, "claw changed clean.py: its tab now shows")).to_be_visible()
    expect(_editor(page, "clean.py")).to_contain_text("x = 2")
    # the tab with unsaved changes keeps them, and the person is told
    warning = _toast(page, "claw changed dirty.py on disk, and its tab has unsaved changes")
    expect(warning).to_be_visible()
    dirty = _editor(page, "dirty.py")
    expect(dirty).to_contain_text("# mine, not saved")
    _shot(page, "e2e_front_editor_tabs.png")
    # saving does not overwrite the agent's change without asking (JupyterLab compares hashes)
    dirty.click()
    page.keyboard.press("Control+s")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("has changed on disk")
    dialog.get_by_role("button", name="Cancel").click()
    assert (root / "dirty.py").read_text() == "y = 2\n"
    # the notification's action loads the agent's version
    warning.get_by_role("button", name="Load claw's version").click()
    expect(_editor(page, "dirty.py")).to_contain_text("y = 2")
    expect(_editor(page, "dirty.py")).not_to_contain_text("mine")


# -- item 6: the saved notebook ---------------------------------------------------------------


def test_the_saved_notebook_holds_no_widget_repr(lab, page, server):
    from nbconvert import HTMLExporter
    from playwright.sync_api import expect

    root, jlab = lab
    server.queue(text("The final answer: **forty-two**."))
    _write_notebook(root / "saved.ipynb", ["%load_ext claw_nb", _claw(server, "the answer?")])
    _open(page, jlab, "saved.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    expect(_cell(page, 1).locator(".claw-state")).to_have_text("completed", timeout=60_000)
    time.sleep(0.5)  # the static copy's last update follows the state
    nb = _save(page, root, "saved.ipynb")
    outputs = nb["cells"][1]["outputs"]
    widget = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o["data"]]
    assert len(widget) == 1 and widget[0]["data"]["text/plain"] in ("", [])
    html, _ = HTMLExporter().from_filename(str(root / "saved.ipynb"))
    assert "VBox(children=" not in html and "HBox(" not in html
    assert "forty-two" in html and "completed" in html
    (OUT / "e2e_front_saved.html").write_text(html)
