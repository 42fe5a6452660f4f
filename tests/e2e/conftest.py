"""The browser for the end-to-end tests: headless Chromium through Playwright."""

from __future__ import annotations

import contextlib

import pytest

from tests.e2e.lab import CHROMIUM, CHROMIUM_ARGS, require_browser, shot


@pytest.fixture
def page(request):
    """A page 1280 px wide; `@pytest.mark.parametrize("page", [900], indirect=True)` sets its
    height. The last state is saved as tests/out/e2e_jupyterlab_last.png."""
    require_browser()
    from playwright.sync_api import sync_playwright

    height = getattr(request, "param", 1400)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": height})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            with contextlib.suppress(Exception):  # the last state, for a person (or a failure)
                shot(page, "e2e_jupyterlab_last.png")
            context.close()
            browser.close()
