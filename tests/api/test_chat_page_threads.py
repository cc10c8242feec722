"""The chat page's thread list in headless Chromium against the real dev server (offline model),
without sign-in.

Without sign-in the server lists no threads (`GET /threads` says `"listed": false`: a thread is
anyone's who knows its id), so the page keeps its own list in local storage: newest first,
titled as the server titles them, renamed (`PATCH`) and deleted (`DELETE`) on the server. Each
conversation is a history entry (New chat, then Back), the tab carries the thread's title, and
on a phone the list is a drawer that Escape closes. (With sign-in, the list is the server's:
test_chat_page_auth.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page

from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.chatpage.browser import PHONE, ask, last_answer, tab


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("chat-threads"),
                     {"MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS)}) as live:
        yield live


def _thread(page: Page) -> str:
    return parse_qs(urlparse(page.url).query).get("thread_id", [""])[0]


def _titles(page: Page) -> list[str]:
    return page.locator("#thread-list .thread-link").all_text_contents()


def _current(page: Page) -> str:
    return page.text_content("#thread-list [aria-current=page]") or ""


def _row(page: Page, title: str) -> str:
    return f"#thread-list .thread:has(.thread-link:text-is('{title}'))"


def _title(server: LiveServer, thread_id: str) -> str:
    resp = requests.get(f"{server.url}/threads/{thread_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    title: str = resp.json()["title"]
    return title


def test_threads_are_listed_navigated_renamed_and_deleted(
        server: LiveServer, browser: Browser) -> None:
    with tab(browser) as page:
        api_calls: list[str] = []
        page.on("request", lambda r: api_calls.append(f"{r.method} {urlparse(r.url).path}"))
        page.goto(f"{server.url}/chat")
        assert page.is_visible("#threads-empty") and page.is_visible("#threads-where")
        start = page.evaluate("history.length")

        page.click(".suggestion >> nth=0")  # "Hello, who are you?"
        last_answer(page, "done")
        assert page.evaluate("document.activeElement.id") == "question", "focus stays in the box"
        first = _thread(page)
        hello = _title(server, first)
        assert _titles(page) == [hello] and _current(page) == hello
        assert page.title() == f"{hello} \u2013 Smart bot"

        page.click("#new-chat")
        assert _thread(page) == "" and page.is_visible("#welcome") and page.title() == "Smart bot"
        assert page.evaluate("history.length") == start + 1, "New chat is a history entry"
        ask(page, "@docsearch how far is the Moon?")
        last_answer(page, "done")
        second = _thread(page)
        assert second and second != first
        moon = _title(server, second)
        page.wait_for_function("(t) => document.title === t", arg=f"{moon} \u2013 Smart bot")
        assert _titles(page) == [moon, hello], "newest first, titled as the server titles them"

        page.go_back()  # the first conversation again
        page.wait_for_selector(".msg.assistant[data-state='done']")
        assert _thread(page) == first and page.title() == f"{hello} \u2013 Smart bot"
        assert page.locator(".msg.user .bubble").all_text_contents() == ["Hello, who are you?"]
        assert _current(page) == hello
        page.go_forward()
        page.wait_for_selector(".msg.user .bubble:text-is('@docsearch how far is the Moon?')")
        assert _thread(page) == second
        page.click(f"{_row(page, hello)} .thread-link")  # a pushed entry
        page.wait_for_selector(".msg.user .bubble:text-is('Hello, who are you?')")
        page.go_back()
        page.wait_for_selector(".msg.user .bubble:text-is('@docsearch how far is the Moon?')")

        # Rename (Escape cancels, Enter saves on the server), kept across a reload.
        page.click(f"{_row(page, hello)} [data-action=rename]")
        page.fill("#rename-input", "never mind")
        page.press("#rename-input", "Escape")
        assert _titles(page) == [moon, hello]
        page.click(f"{_row(page, hello)} [data-action=rename]")
        assert page.evaluate("document.activeElement.id") == "rename-input"
        page.fill("#rename-input", "Greetings")
        with page.expect_response(lambda r: r.request.method == "PATCH") as renamed:
            page.press("#rename-input", "Enter")
        assert renamed.value.status == 200
        page.wait_for_selector(f"{_row(page, 'Greetings')} [data-action=rename]:focus")
        assert _titles(page) == [moon, "Greetings"]
        assert _title(server, first) == "Greetings"
        page.reload()
        page.wait_for_selector(".msg.assistant[data-state='done']")
        assert _titles(page) == [moon, "Greetings"]
        page.click(f"{_row(page, 'Greetings')} .thread-link")
        page.wait_for_selector(".msg.user .bubble:text-is('Hello, who are you?')")
        assert page.title() == "Greetings \u2013 Smart bot"

        # Delete: asked first (Cancel keeps it), then gone from the server and the list.
        page.click(f"{_row(page, moon)} [data-action=delete]")
        assert page.evaluate("document.activeElement.textContent") == "Cancel"
        page.keyboard.press("Enter")
        assert _titles(page) == [moon, "Greetings"]
        page.click(f"{_row(page, moon)} [data-action=delete]")
        page.click("#thread-list .thread-confirm button.danger")
        page.wait_for_function("() => document.querySelectorAll('.thread').length === 1")
        assert _titles(page) == ["Greetings"]
        assert requests.get(f"{server.url}/threads/{second}", timeout=30).status_code == 404
        # Deleting the open conversation starts a new one.
        page.click(f"{_row(page, 'Greetings')} [data-action=delete]")
        page.click("#thread-list .thread-confirm button.danger")
        page.wait_for_selector("#welcome:not([hidden])")
        assert _thread(page) == "" and page.title() == "Smart bot"
        assert page.is_visible("#threads-empty")
        assert requests.get(f"{server.url}/threads/{first}", timeout=30).status_code == 404

        # The server was asked for its list, which it keeps for signed-in users only.
        assert "GET /threads" in api_calls
        assert page.is_visible("#threads-where")


def test_on_a_phone_the_list_is_a_drawer(server: LiveServer, browser: Browser) -> None:
    with tab(browser, viewport=PHONE) as page:
        page.goto(f"{server.url}/chat")
        ask(page, "@docsearch how far is the Moon?")
        last_answer(page, "done")
        page.click("#new-chat")
        assert page.is_hidden("#thread-list .thread-link"), "the list is out of the way"
        page.click("#open-sidebar")
        page.wait_for_selector("#thread-list .thread-link", state="visible")
        assert page.get_attribute("#open-sidebar", "aria-expanded") == "true"
        assert page.evaluate("document.activeElement.classList.contains('thread-link')")
        assert page.evaluate("document.getElementById('main-col').inert")
        page.keyboard.press("Escape")
        page.wait_for_selector("#thread-list .thread-link", state="hidden")
        assert page.evaluate("document.activeElement.id") == "open-sidebar"
        assert not page.evaluate("document.getElementById('main-col').inert")
        page.click("#open-sidebar")
        page.click("#thread-list .thread-link")
        page.wait_for_selector(".msg.assistant[data-state='done']")
        page.wait_for_selector("#thread-list .thread-link", state="hidden")
        assert page.title() == f"{_title(server, _thread(page))} \u2013 Smart bot"
