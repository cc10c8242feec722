"""Debian's Chromium, driven by Playwright, for the browser tests (it never downloads a
browser of its own).

    with chromium(profile_dir) as context:
        page = context.new_page()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container, without the network: no sandbox, no GPU, nothing in the background.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000


@contextmanager
def chromium(profile_dir: Path, **options: Any) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile in `profile_dir` (`options`: Playwright's
    context options, e.g. `viewport`, `color_scheme`)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, timeout=30_000, **options)
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()
