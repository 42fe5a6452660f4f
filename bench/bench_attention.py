"""How fast a pending approval is noticed in JupyterLab: card -> title, card -> notification.

Starts JupyterLab on 127.0.0.1 (with claw's lab extension linked through JUPYTER_PATH) and a
scripted model server, opens a notebook in headless Chromium and runs `runs` `%%claw` cells,
each asking to write a file. For each approval it measures, in the page, the time from the
approval card appearing (its Approve button in the DOM) to the tab's title changing and to
JupyterLab's notification toast appearing, and, on the machine's wall clock, from the model
server sending the tool call to the title changing (the agent thread, the widget messages and
the page together). Then it approves with the keyboard (Show in the notification, then y).

    python bench/bench_attention.py [runs]

Needs what tests/e2e needs: jupyterlab, playwright and Debian's chromium.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claw_nb.jupyter.lab_extension import NAME, source_dir  # noqa: E402
from claw_nb.testing import ScriptedServer, call, text, tool_calls  # noqa: E402
from tests.e2e.lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.test_jupyterlab import (  # noqa: E402
    _cell,
    _lab_env,
    _open_notebook,
    _run_cell,
    _write_notebook,
)

WATCH = """() => {
  const m = window.__m = {};
  new MutationObserver(() => {
    const now = performance.now();
    if (!m.card && document.querySelector('.claw-approval .claw-yes')) m.card = now;
    if (m.card && !m.toast && [...document.querySelectorAll('.Toastify__toast')]
        .some(t => t.textContent.includes('claw needs you'))) m.toast = now;
  }).observe(document.body, {childList: true, subtree: true, attributes: true,
                             attributeFilter: ['class']});
  new MutationObserver(() => {
    if (!m.title && document.title.includes('claw needs you')) {
      m.title = performance.now(); m.titleWall = Date.now();
    }
  }).observe(document.querySelector('title'), {childList: true, characterData: true,
                                               subtree: true});
}"""


def main(runs: int = 5) -> None:
    from playwright.sync_api import expect, sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="claw-bench-attention-"))
    data = tmp / "jupyter-data" / "labextensions"
    data.mkdir(parents=True)
    (data / NAME).symlink_to(source_dir(), target_is_directory=True)
    server = ScriptedServer().start()
    root, lab = _lab_env(
        tmp,
        CLAW_MODEL="openai/scripted",
        CLAW_API_BASE=server.url,
        CLAW_API_KEY="sk-test",
        CLAW_DB=str(tmp / "claw.duckdb"),
        JUPYTER_PATH=str(data.parent),
    )
    wall_offset = time.time() - time.perf_counter()
    rows: list[tuple[float, float, float]] = []
    try:
        cells = ["%load_ext claw_nb"] + [f"%%claw\nwrite f{i}.txt" for i in range(runs)]
        _write_notebook(root / "bench.ipynb", [*cells, "# the end"])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            _open_notebook(page, lab, "bench.ipynb")
            _run_cell(page, 0)
            for i in range(runs):
                server.queue(
                    tool_calls(call("write_file", {"path": f"f{i}.txt", "content": "x\n"})),
                    text("written"),
                )
                page.evaluate(WATCH)
                sent_before = len(server.request_meta)
                _run_cell(page, i + 1)
                page.wait_for_function("() => window.__m.title && window.__m.toast")
                m = page.evaluate("() => window.__m")
                answered = server.request_meta[sent_before]["answered_at"] + wall_offset
                rows.append(
                    (
                        m["title"] - m["card"],
                        m["toast"] - m["card"],
                        m["titleWall"] - answered * 1000,
                    )
                )
                transcript = _cell(page, i + 1).locator(".claw-transcript")
                toast = page.locator(".Toastify__toast").filter(has_text="claw needs you")
                toast.get_by_role("button", name="Show").click()
                page.wait_for_function(
                    "() => document.activeElement"
                    " && document.activeElement.classList.contains('claw-approval')"
                )
                page.wait_for_timeout(350)
                page.keyboard.press("y")
                expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=120_000)
            browser.close()
    finally:
        lab.stop()
        server.stop()
    print(f"{runs} approvals in JupyterLab 4 + Chromium (milliseconds)")
    print(f"{'':28} {'median':>8} {'max':>8}")
    for label, column in (
        ("card -> title", 0),
        ("card -> notification", 1),
        ("model reply -> title", 2),
    ):
        values = [r[column] for r in rows]
        print(f"{label:28} {statistics.median(values):8.1f} {max(values):8.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
