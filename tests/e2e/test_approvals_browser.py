"""Issue 25, item 1, in a real browser: "Always allow" offers the narrowest rule, and says so.

JupyterLab in headless Chromium with the scripted model (the harness of test_jupyterlab.py): the
model runs `python -m pytest -q test_stats.py`; the card shows `run_command(python -m pytest *)`
before anyone clicks, and Always allow adds exactly that. Then `python -c "...os.remove(...)"`
still asks (the old offer, `python *`, let it through), is denied with a reason that reaches the
model, and the file stays; a later `python -m pytest -q` runs without asking and its card says
"allowed by rule ...". Screenshots: tests/out/e2e_always_rule.png (the offer before the click),
tests/out/e2e_exploit_asks.png (python -c asks, a reason typed), tests/out/e2e_rule_allowed.png
(the finished run).

Skipped when Chromium or Playwright is missing, or bubblewrap cannot run here: without a
sandbox every command asks and no rule is offered.
"""

from __future__ import annotations

import pytest

from claw_nb.testing import ScriptedServer, call, text, tool_calls
from tests.e2e.lab import require_browser, shot
from tests.e2e.test_jupyterlab import _cell, _lab_env, _open_notebook, _run_cell, _write_notebook

pytestmark = pytest.mark.slow

PYTEST = "python -m pytest -q test_stats.py"
EXPLOIT = "python -c \"import os; os.remove('test_stats.py')\""
RULE = "run_command(python -m pytest *)"


@pytest.fixture
def rules_lab(tmp_path):
    """(scripted server, lab root, Lab) as `lab_env` of test_jupyterlab.py, with a sandbox."""
    require_browser()
    from claw_nb.sandbox.bwrap_probe import bwrap_status

    usable, why = bwrap_status()
    if not usable:
        pytest.skip(f"no sandbox, so every command asks and no rule is offered: {why}")
    server = ScriptedServer().start()
    root, lab = _lab_env(
        tmp_path,
        CLAW_MODEL="openai/scripted",
        CLAW_API_BASE=server.url,
        CLAW_API_KEY="sk-test",
        CLAW_DB=str(tmp_path / "claw.duckdb"),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # the sandboxed pytest starts fast
    )
    try:
        yield server, root, lab
    finally:
        lab.stop()
        server.stop()


def test_always_allow_offers_the_narrow_rule_and_python_c_still_asks(rules_lab, page):
    from playwright.sync_api import expect

    server, root, lab = rules_lab
    (root / "test_stats.py").write_text("def test_mean():\n    assert sum([1, 2, 3]) / 3 == 2\n")
    server.queue(
        tool_calls(call("run_command", {"command": PYTEST})),
        tool_calls(call("run_command", {"command": EXPLOIT})),
        tool_calls(call("run_command", {"command": "python -m pytest -q"})),
        text("The tests pass; I left test_stats.py alone."),
    )
    _write_notebook(root / "rules.ipynb", ["%load_ext claw_nb", "%%claw\nrun the tests"])
    _open_notebook(page, lab, "rules.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    transcript = _cell(page, 1).locator(".claw-transcript")
    approval = transcript.locator(".claw-approval")

    # 1. The card says what "Always allow" adds before anyone clicks: the module, not python.
    expect(approval.locator(".claw-approval-gist")).to_contain_text(PYTEST, timeout=60_000)
    offer = approval.locator(".claw-offer")
    expect(offer).to_be_visible()
    expect(offer.locator("code").first).to_have_text(RULE)
    assert "python *" not in offer.inner_text()
    always = approval.locator(".claw-always")
    expect(always).to_be_visible()
    expect(always).to_have_text("Always allow")
    shot(page, "e2e_always_rule.png")
    always.click()

    # 2. python -c is not covered by the rule: a new card asks; Deny it with a reason.
    expect(approval.locator(".claw-approval-gist")).to_contain_text("os.remove", timeout=60_000)
    expect(approval.locator(".claw-offer code").first).to_contain_text("run_command(python -c")
    approval.locator(".claw-deny-reason input").fill("do not delete files")
    shot(page, "e2e_exploit_asks.png")
    approval.locator(".claw-no").click()

    # 3. The second pytest runs by the rule, and its card says so.
    expect(transcript.locator(".claw-state")).to_have_text("completed", timeout=120_000)
    assert (root / "test_stats.py").exists()
    cards = transcript.locator(".claw-card")
    expect(cards).to_have_count(3)
    expect(cards.nth(0)).not_to_contain_text("allowed by rule")
    expect(cards.nth(1).locator(".claw-card-status")).to_have_text("denied")
    expect(cards.nth(2).locator(".claw-card-rule")).to_have_text(f"allowed by rule {RULE}")
    expect(cards.nth(2).locator(".claw-card-status")).to_contain_text("ok")
    expect(transcript).to_contain_text("always allowed: run_command")
    expect(transcript).to_contain_text("denied, with your reason: run_command")
    assert approval.locator(".claw-yes").count() == 0  # nothing else asked

    # The model's next request carried the reason as the denied call's result.
    requests = server.requests
    assert len(requests) == 4
    results = [m["content"] for m in requests[2]["messages"] if m["role"] == "tool"]
    assert "The user says: do not delete files" in results[1], results
    shot(page, "e2e_rule_allowed.png")
