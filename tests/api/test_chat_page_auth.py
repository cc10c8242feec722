"""The chat page behind sign-in (AUTH_MODE=easyauth) in headless Chromium (Debian's `chromium`,
driven by Playwright) against the real dev server (offline model).

Easy Auth's part is played by the browser context: a signed-in user's context sends the
headers Easy Auth would add (tests/support/easyauth.py); a signed-out one sends none. Asserted
as a person sees it: signed out, a question gets a "Sign in" link that comes back to the page;
signed in, the thread list is the server's (`GET /threads`: the user's own threads, newest
first, nothing kept in the browser), renamed (`PATCH`) and deleted (`DELETE`) there, the same
in another browser of the same user; another user sees none of them, and opening one's URL
starts a new conversation instead of showing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page

from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.chatpage.browser import ask, last_answer, tab
from tests.support.easyauth import signed_in

ALICE, BOB = signed_in("alice"), signed_in("bob")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("chat-auth"),
                     {"AUTH_MODE": "easyauth", "MODEL_PROVIDER": "offline",
                      "DOCS_DIR": str(CORPUS)}) as live:
        yield live


def _listed(server: LiveServer, user: dict[str, str]) -> list[dict[str, Any]]:
    page = requests.get(f"{server.url}/threads", headers=user, timeout=30).json()
    assert page["listed"] is True
    threads: list[dict[str, Any]] = page["threads"]
    return threads


def _titles(page: Page) -> list[str]:
    return page.locator("#thread-list .thread-link").all_text_contents()


def _row(title: str) -> str:
    return f"#thread-list .thread:has(.thread-link:text-is('{title}'))"


def test_signed_out_a_sign_in_link(server: LiveServer, browser: Browser) -> None:
    with tab(browser) as page:
        page.goto(f"{server.url}/chat")
        ask(page, "@docsearch how far is the Moon?")
        link = page.wait_for_selector("#notice a")
        assert link is not None and link.text_content() == "Sign in"
        target = urlparse(link.get_attribute("href") or "")
        assert target.path == "/.auth/login/aad"
        assert parse_qs(target.query) == {"post_login_redirect_uri": ["/chat"]}
        assert "401" in (page.text_content(".msg.assistant .status") or "")
        assert page.is_hidden("#key-panel[open]"), "no function key was asked for"


def test_signed_in_the_list_is_the_users_own_on_the_server(
        server: LiveServer, browser: Browser) -> None:
    with tab(browser, extra_http_headers=ALICE) as page:
        page.goto(f"{server.url}/chat")
        ask(page, "@docsearch how far is the Moon?")
        last_answer(page, "done")
        assert "384,400" in (page.text_content(".msg.assistant .answer") or "")
        moon_url = page.url
        page.click("#new-chat")
        ask(page, "Hello, who are you?")
        last_answer(page, "done")
        mine = _listed(server, ALICE)
        assert len(mine) == 2
        titles = [t["title"] for t in mine]
        page.wait_for_function("(t) => [...document.querySelectorAll('#thread-list .thread-link')]"
                               ".map((a) => a.textContent).join('|') === t", arg="|".join(titles))
        assert page.is_hidden("#threads-where"), "not said to be kept in this browser"
        assert page.evaluate("localStorage.getItem('smartbot.threads')") is None

    # Another browser of Alice's (nothing stored in it): the same list, from the server.
    with tab(browser, extra_http_headers=ALICE) as page:
        with page.expect_response(lambda r: urlparse(r.url).path == "/threads") as listed:
            page.goto(f"{server.url}/chat")
        assert listed.value.json()["listed"] is True
        page.wait_for_selector("#thread-list .thread-link")
        assert _titles(page) == titles

        # Rename: stored by the server, the same after a reload.
        page.click(f"{_row(titles[1])} [data-action=rename]")
        page.fill("#rename-input", "Distance to the Moon")
        with page.expect_response(lambda r: r.request.method == "PATCH") as renamed:
            page.press("#rename-input", "Enter")
        assert renamed.value.status == 200
        assert [t["title"] for t in _listed(server, ALICE)] == [titles[0], "Distance to the Moon"]
        page.reload()
        page.wait_for_selector(_row("Distance to the Moon"))
        assert _titles(page) == [titles[0], "Distance to the Moon"]
        page.click(f"{_row('Distance to the Moon')} .thread-link")
        page.wait_for_selector(".msg.assistant[data-state='done']")
        assert page.title() == "Distance to the Moon \u2013 Smart bot"
        assert page.url == moon_url

        # Delete: gone from the server's list.
        page.click(f"{_row(titles[0])} [data-action=delete]")
        page.click("#thread-list .thread-confirm button.danger")
        page.wait_for_function("() => document.querySelectorAll('.thread').length === 1")
        assert [t["title"] for t in _listed(server, ALICE)] == ["Distance to the Moon"]

    # Bob: none of Alice's threads listed, and her thread's URL is not his to open.
    with tab(browser, extra_http_headers=BOB) as page:
        page.goto(f"{server.url}/chat")
        page.wait_for_selector("#threads-empty:not([hidden])")
        assert _titles(page) == []
        page.goto(moon_url)
        notice = page.wait_for_selector("#notice:not([hidden])")
        assert notice is not None and "not found" in (notice.text_content() or "")
        assert page.locator(".msg").count() == 0
        assert "thread_id" not in page.url
    assert _listed(server, BOB) == []
