"""Fixtures the API tests share: one headless Chromium per test module (Debian's, driven by
Playwright), for the tests of the chat page and `/docs`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.chromium import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the module."""
    with chromium() as chromium_browser:
        yield chromium_browser
