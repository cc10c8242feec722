"""The chat page in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against the real dev server, whose model is a loopback server speaking the OpenAI
protocol with paced tokens.

One browser for the module, hard timeouts on every wait. Each test asserts what a person
sees: tokens appearing frame by frame before the end, tool calls, citation links, the thread
reloaded from the URL, keep-alives, the function key, and a failing model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # git-ignored
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000
MOON = "corpus/moon.md#the-moon"
TIDE_URL = "https://en.wikipedia.org/wiki/Tide"
ANSWER = ["The Moon ", "is about ", "384,400 km ", "from Earth ", f"[[1]]({MOON})", " and it ",
          "raises ", "the tides ", f"[[2]]({TIDE_URL})", "."]
# Records, once per animation frame, the last answer's text and state whenever either changed:
# what the person saw, frame by frame.
FRAME_LOG = """() => {
  window.frames_seen = [];
  const tick = () => {
    const answers = document.querySelectorAll('.msg.assistant');
    const msg = answers[answers.length - 1];
    if (msg) {
      const status = msg.querySelector('.status').textContent;
      const seen = {text: msg.querySelector('.answer').textContent, state: msg.dataset.state,
                    status};
      const last = window.frames_seen[window.frames_seen.length - 1];
      if (!last || last.text !== seen.text || last.state !== seen.state
          || last.status !== seen.status) window.frames_seen.push(seen);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    """The dev server on the OpenAI protocol (paced tokens), docsearch on the test corpus."""
    with fake_openai() as (model, base_url), live_server(
        tmp_path_factory.mktemp("chat-page"),
        {"MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{base_url}/v1",
         "OPENAI_API_KEY": "k", "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS),
         "SSE_KEEPALIVE_SECONDS": "0.2", "MAX_INPUT_CHARS": "500"},
    ) as live:
        yield model, live


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One headless Chromium for the module, with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium (as root)")
    playwright: Playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, timeout=30_000,
            viewport={"width": 900, "height": 900}, color_scheme="light")
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()
    finally:
        playwright.stop()


@pytest.fixture()
def page(browser: BrowserContext) -> Iterator[Page]:
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def _last_answer_state(page: Page, state: str) -> None:
    page.wait_for_selector(f".msg.assistant:last-child[data-state='{state}']", timeout=WAIT_MS)


def _frames(page: Page) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = page.evaluate("window.frames_seen")
    return frames


def test_an_answer_streams_in_with_its_tool_call_and_citation_links(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}]),
              Turn(chunks=ANSWER, delay=0.06))
    page.goto(f"{live.url}/chat")
    assert page.title() == "Smart bot"
    page.evaluate(FRAME_LOG)
    _ask(page, "@docsearch how far is the Moon?")
    _last_answer_state(page, "done")

    final = page.text_content(".msg.assistant .answer") or ""
    assert final == "The Moon is about 384,400 km from Earth [1] and it raises the tides [2]."
    frames = _frames(page)
    growing = [f["text"] for f in frames if f["state"] == "streaming" and f["text"]]
    assert len(set(growing)) >= 4, f"tokens must appear over several frames, saw {growing}"
    assert [f["state"] for f in frames][-1] == "done"
    assert all(final.startswith(text.rstrip()) for text in growing if "[" not in text)
    assert len(growing[0]) < len(final) / 2, "the first tokens are painted long before the end"

    # The tool call: shown, collapsed, with its input and output one click away.
    tool = page.locator(".msg.assistant .tool")
    assert tool.count() == 1
    assert tool.locator(".tool-name").text_content() == "search_documents"
    assert tool.locator(".tool-state").text_content() == "done"
    assert tool.get_attribute("open") is None
    tool.locator("summary").click()
    assert tool.locator("pre").nth(1).is_visible()
    assert "384,400" in (tool.locator("pre").nth(1).text_content() or "")

    # Citations are links: to the source list for a document, to the page for a URL.
    cites = page.locator(".msg.assistant a.cite")
    assert cites.count() == 2
    anchor = cites.nth(0).get_attribute("href") or ""
    assert anchor.startswith("#")
    assert page.locator(anchor).text_content() == MOON
    assert cites.nth(1).get_attribute("href") == TIDE_URL
    assert "noopener" in (cites.nth(1).get_attribute("rel") or "")

    # The thread is in the URL, as the server named it.
    thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]
    assert model.requests[-1].body["messages"][-1]["role"] == "tool"
    # Kept as a test artifact (CI can upload `test-artifacts/`); `docs/images/chat.png` is one.
    shot = ARTIFACTS / "chat.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # A follow-up on the same thread, then a reload shows both turns from GET /threads/{id}.
    model.add(Turn(chunks=["That is ", "about ", "30 Earths ", "side by side."], delay=0.02))
    _ask(page, "@chat how many Earths is that?")
    page.wait_for_selector(".msg.assistant:nth-child(4)[data-state='done']", timeout=WAIT_MS)
    assert parse_qs(urlparse(page.url).query)["thread_id"] == [thread_id]
    assert "@docsearch how far is the Moon?" in json.dumps(model.requests[-1].body["messages"])
    page.reload()
    page.wait_for_selector(".msg.assistant:nth-child(4)", timeout=WAIT_MS)
    said = page.eval_on_selector_all(
        ".msg", "ms => ms.map(m => [m.classList[1], m.querySelector('.bubble, .answer')"
        ".textContent, (m.querySelector('.agent') || {}).textContent || ''])")
    assert said == [
        ["user", "@docsearch how far is the Moon?", ""],
        ["assistant", final, "docsearch"],
        ["user", "@chat how many Earths is that?", ""],
        ["assistant", "That is about 30 Earths side by side.", "chat"],
    ]
    assert page.locator(".msg.assistant a.cite").count() == 2
    assert page.is_hidden("#welcome")


def test_a_failing_model_shows_the_error_after_the_partial_answer(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=["Partial ", "answer ", "never finished"], delay=0.02, fail_after=2))
    page.goto(f"{live.url}/chat")
    _ask(page, "@chat say something")
    _last_answer_state(page, "error")
    status = page.locator(".msg.assistant .status")
    assert status.get_attribute("role") == "alert"
    text = status.text_content() or ""
    # the event's status and message
    assert re.match(r"Error \(502\): The model service could not answer", text), text
    assert page.text_content(".msg.assistant .answer") == "Partial answer "
    assert page.locator(".msg.assistant .retry").is_visible()
    assert page.get_attribute("#send", "aria-label") == "Send", "the page is ready again"

    _ask(page, "x" * 501)  # refused before the stream starts: the 4xx detail is shown
    _last_answer_state(page, "error")
    refused = page.locator(".msg.assistant .status").last.text_content() or ""
    assert refused.startswith("Error (422): user_input: is 501 characters"), refused


def test_model_text_is_shown_as_text_and_only_safe_links_are_made(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=['<img src=x onerror="window.pwned=1"> **bold** `code` ',
                           "[[1]](javascript:window.pwned=2) [click](javascript:alert(1)) ",
                           "[docs](https://example.org/docs)\n\n- one\n- two"]))
    page.goto(f"{live.url}/chat")
    _ask(page, "@chat show me HTML")
    _last_answer_state(page, "done")
    answer = page.locator(".msg.assistant .answer")
    assert answer.locator("img").count() == 0 and page.evaluate("window.pwned") is None
    assert '<img src=x onerror="window.pwned=1">' in (answer.text_content() or "")
    assert answer.locator("strong").text_content() == "bold"
    assert answer.locator("code").text_content() == "code"
    assert answer.locator("li").all_text_contents() == ["one", "two"]
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) == 2 and hrefs[0].startswith("#") and hrefs[1] == "https://example.org/docs"
    assert "[click](javascript:alert(1))" in (answer.text_content() or "")
    source = page.locator(".msg.assistant .source-list li")
    assert source.text_content() == "javascript:window.pwned=2" and source.locator("a").count() == 0


def test_keep_alives_a_function_key_and_a_new_chat(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=["Hello ", "there!"], first_delay=1.0))  # keep-alives come first
    page.goto(f"{live.url}/chat")
    page.click("#key-panel summary")
    page.fill("#function-key", "the-key")
    page.press("#function-key", "Enter")
    assert page.is_hidden("#function-key")
    page.evaluate(FRAME_LOG)
    with page.expect_request(lambda r: r.url.endswith("/stream")) as sent:
        _ask(page, "@chat hello")
    _last_answer_state(page, "done")
    request = sent.value
    assert request.headers["x-functions-key"] == "the-key"
    assert request.headers["content-type"] == "application/json"
    assert page.text_content(".msg.assistant .answer") == "Hello there!"
    statuses = [f["status"] for f in _frames(page)]
    assert "Still working…" in statuses, f"keep-alives were not seen: {statuses}"

    page.reload()  # the key stays for this tab, and the thread comes back
    assert page.input_value("#function-key") == "the-key"
    page.wait_for_selector(".msg.assistant", timeout=WAIT_MS)
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    assert "thread_id" not in page.url
    assert page.is_visible("#welcome")
    assert page.evaluate("document.activeElement.id") == "question"

    page.goto(f"{live.url}/chat?code=from-the-url")  # the Functions way of giving a key
    assert page.input_value("#function-key") == "from-the-url"
    assert "code=" not in page.url, "the key does not stay in the address bar"
