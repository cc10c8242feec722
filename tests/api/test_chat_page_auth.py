"""The chat page behind sign-in (AUTH_MODE=easyauth) in headless Chromium (Debian's `chromium`,
driven by Playwright) against the real dev server.

Easy Auth's part is played by the browser context: a signed-in user's context sends the
headers Easy Auth would add (tests/support/easyauth.py); a signed-out one sends none. Asserted
as a person sees it: signed out, a question gets a "Sign in" link that comes back to the page;
signed in, the answer streams and the conversation reloads from its URL; another user opening
that URL starts a new conversation instead of seeing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.easyauth import signed_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("chat-auth"),
                     {"AUTH_MODE": "easyauth", "MODEL_PROVIDER": "offline",
                      "DOCS_DIR": str(CORPUS)}) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium (as root)")
    playwright: Playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS, timeout=30_000)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


def test_signed_out_a_sign_in_link_signed_in_own_threads_only(
        server: LiveServer, browser: Browser) -> None:
    signed_out = browser.new_context()
    alice = browser.new_context(extra_http_headers=signed_in("alice"))
    bob = browser.new_context(extra_http_headers=signed_in("bob"))
    try:
        for context in (signed_out, alice, bob):
            context.set_default_timeout(WAIT_MS)

        page = signed_out.new_page()
        page.goto(f"{server.url}/chat")
        page.fill("#question", "@docsearch how far is the Moon?")
        page.press("#question", "Enter")
        link = page.wait_for_selector("#notice a")
        assert link is not None and link.text_content() == "Sign in"
        target = urlparse(link.get_attribute("href") or "")
        assert target.path == "/.auth/login/aad"
        assert parse_qs(target.query) == {"post_login_redirect_uri": ["/chat"]}
        assert "401" in (page.text_content(".msg.assistant .status") or "")
        assert page.is_hidden("#key-panel[open]"), "no function key was asked for"

        page = alice.new_page()
        page.goto(f"{server.url}/chat")
        page.fill("#question", "@docsearch how far is the Moon?")
        page.press("#question", "Enter")
        page.wait_for_selector(".msg.assistant:last-child[data-state='done']")
        assert "384,400" in (page.text_content(".msg.assistant .answer") or "")
        thread_url = page.url
        assert "thread_id=" in thread_url
        page.reload()  # her conversation comes back from GET /threads/{id}
        page.wait_for_selector(".msg.assistant")
        assert page.locator(".msg.user").count() == 1

        page = bob.new_page()
        page.goto(thread_url)  # Bob was given the link: not his thread
        notice = page.wait_for_selector("#notice:not([hidden])")
        assert notice is not None and "not found" in (notice.text_content() or "")
        assert page.locator(".msg").count() == 0
        assert "thread_id" not in page.url
    finally:
        for context in (signed_out, alice, bob):
            context.close()
