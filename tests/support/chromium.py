"""Debian's Chromium, driven by Playwright, for the browser tests (`/docs`, the chat page): the
one launcher. Playwright never downloads a browser here.

    with chromium() as browser:
        context = new_context(browser, viewport=...)    # fresh storage, timeouts of WAIT_MS
        page = context.new_page()

Every wait of a context made here has a hard timeout (WAIT_MS); nothing sleeps to pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container, without the network: no sandbox, no GPU, nothing in the background.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Debian Chromium for the block."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium (as root)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A browser context of its own (fresh cookies and storage; `options`: Playwright's, e.g.
    `viewport`, `color_scheme`, `extra_http_headers`) whose waits time out after WAIT_MS."""
    context = browser.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    return context
