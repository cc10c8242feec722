"""The chat page in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against the real dev server, whose model is a loopback server speaking the OpenAI
protocol with paced tokens, and docsearch on a test corpus.

Asserted as a person sees it: tokens appearing frame by frame, the tool call, citations named
by their sources' titles with a preview of the cited passage, GitHub-flavoured Markdown (a
table, nested lists, a code block with its language and a copy button, a relative link
resolved to its source), copying an answer, the same conversation after a reload as live, and
hostile answers and tool output rendered inert.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page

from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer
from tests.conftest import CORPUS
from tests.support.chatpage.browser import ARTIFACTS, ask, last_answer, tab
from tests.support.dev_server import model_and_server

MOON = "corpus/moon.md#the-moon"
TIDE_URL = "https://en.wikipedia.org/wiki/Tide"
ANSWER = ["The Moon ", "is about ", "384,400 km ", "from Earth ", f"[[1]]({MOON})", " and it ",
          "raises ", "the tides ", f"[[2]]({TIDE_URL})", "."]
TIDE_TABLE = "high water 06:12\nlow water 12:25\n"
HOSTILE_DOC = """# Hostile

<img src=x onerror="window.pwned='corpus img'"> Click [here](javascript:window.pwned='corpus')
or <script>window.pwned='corpus script'</script> now.
"""
# Records, once per animation frame, the last answer's text, state and status whenever one of
# them changed: what the person saw, frame by frame.
FRAME_LOG = """() => {
  window.frames_seen = [];
  const tick = () => {
    const answers = document.querySelectorAll('.msg.assistant');
    const msg = answers[answers.length - 1];
    if (msg) {
      const seen = {text: msg.querySelector('.answer').textContent.trim(),
                    state: msg.dataset.state, status: msg.querySelector('.status').textContent};
      const last = window.frames_seen[window.frames_seen.length - 1];
      if (!last || last.text !== seen.text || last.state !== seen.state
          || last.status !== seen.status) window.frames_seen.push(seen);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
CLIPBOARD = ["clipboard-read", "clipboard-write"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    """The dev server on the OpenAI protocol (paced tokens), docsearch on the test corpus plus
    one hostile document."""
    corpus = tmp_path_factory.mktemp("docs") / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "hostile.md").write_text(HOSTILE_DOC, encoding="utf-8")
    with (corpus / "moon.md").open("a", encoding="utf-8") as moon:  # a block in the tides passage
        moon.write(f"\n```text\n{TIDE_TABLE}```\n")
    env = {"DOCS_DIR": str(corpus), "SSE_KEEPALIVE_SECONDS": "0.2", "MAX_INPUT_CHARS": "500"}
    with model_and_server(tmp_path_factory.mktemp("chat-page"), env) as (model, live):
        yield model, live


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    with tab(browser, permissions=CLIPBOARD) as opened:
        yield opened


def _thread(live: LiveServer, thread_id: str) -> dict[str, Any]:
    resp = requests.get(f"{live.url}/threads/{thread_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    thread: dict[str, Any] = resp.json()
    return thread


def _frames(page: Page) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = page.evaluate("window.frames_seen")
    return frames


def _conversation_html(page: Page) -> str:
    """The conversation as drawn, tool boxes closed (a person may have opened one)."""
    html: str = page.evaluate("""() => {
      const copy = document.getElementById('messages').cloneNode(true);
      for (const d of copy.querySelectorAll('details')) d.removeAttribute('open');
      return copy.innerHTML;
    }""")
    return html


def test_an_answer_streams_with_its_tool_call_and_titled_citations_the_same_after_reload(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}]),
              Turn(chunks=ANSWER, delay=0.06))
    page.goto(f"{live.url}/chat")
    assert page.title() == "Smart bot"
    assert page.is_hidden("#key-panel"), "no key field where no key was asked for"
    assert page.evaluate("document.activeElement.id") == "question"
    page.evaluate(FRAME_LOG)
    ask(page, "@docsearch how far is the Moon?")
    last_answer(page, "done")

    answer = page.locator(".msg.assistant .answer")
    final = (answer.text_content() or "").strip()
    assert final == "The Moon is about 384,400 km from Earth [1] and it raises the tides [2]."
    frames = _frames(page)
    growing = [f["text"] for f in frames if f["state"] == "streaming" and f["text"]]
    assert len(set(growing)) >= 4, f"tokens must appear over several frames, saw {growing}"
    assert frames[-1]["state"] == "done"
    assert len(growing[0]) < len(final) / 2, "the first tokens are painted long before the end"
    assert answer.get_attribute("aria-busy") == "false"
    page.wait_for_function("() => document.getElementById('announcer').textContent.length > 0")
    assert page.text_content("#announcer") == f"docsearch answered: {final}"

    # The tool call: collapsed, its input and (pretty) output one click away.
    tool = page.locator(".msg.assistant .tool")
    assert tool.count() == 1 and tool.get_attribute("open") is None
    assert tool.locator(".tool-name").text_content() == "search_documents"
    assert tool.locator(".tool-state").text_content() == "done"
    tool.locator("summary").click()
    assert tool.locator(".tool-input").text_content() == '{"query": "Moon"}'
    output = tool.locator(".tool-output").text_content() or ""
    assert '\n  "results": [' in output and "384,400" in output

    # Citations are named by the titles the tool returned; a web source opens in a new tab.
    cites = page.locator(".msg.assistant a.cite")
    assert cites.count() == 2
    assert cites.nth(0).get_attribute("aria-label") == "Source 1: The Moon"
    assert cites.nth(1).get_attribute("href") == TIDE_URL
    assert cites.nth(1).get_attribute("target") == "_blank"
    assert "noopener" in (cites.nth(1).get_attribute("rel") or "")
    sources = page.locator(".msg.assistant .source-list li")
    assert sources.all_text_contents() == [f"The Moon{MOON}", TIDE_URL]
    # ...and a local one shows the passage it cites; Escape closes it, focus comes back.
    cites.nth(0).click()
    dialog = page.locator("#source-dialog")
    assert dialog.is_visible()
    assert dialog.locator(".preview-title").text_content() == "The Moon"
    assert dialog.locator(".preview-source").text_content() == MOON
    assert "384,400 kilometres" in (dialog.locator(".preview-body").text_content() or "")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('cite')")
    assert page.locator(".msg.assistant").get_attribute("data-state") == "done"

    assert page.locator(".msg.assistant .actions button").all_text_contents() == [
        "Copy", "Regenerate", "Good answer", "Bad answer"]
    # Copy puts the answer's Markdown on the clipboard.
    page.click(".msg.assistant .actions .copy")
    assert page.evaluate("navigator.clipboard.readText()") == "".join(ANSWER)
    assert page.text_content(".msg.assistant .actions .copy .label") == "Copied"

    # The thread is in the URL, and its title (the server's) in the tab.
    thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]
    title = _thread(live, thread_id)["title"]
    assert title and page.title() == f"{title} \u2013 Smart bot"
    assert model.requests[-1].body["messages"][-1]["role"] == "tool"
    shot = ARTIFACTS / "chat.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    # A follow-up on the same thread (no tool: the specialist is named all the same)...
    model.add(Turn(chunks=["That is ", "about ", "30 Earths ", "side by side."], delay=0.02))
    ask(page, "@chat how many Earths is that?")
    page.wait_for_selector(".msg.assistant:nth-child(4)[data-state='done']")
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant:nth-child(4) .agent').textContent === 'chat'")
    assert parse_qs(urlparse(page.url).query)["thread_id"] == [thread_id]
    assert "how far is the Moon?" in str(model.requests[-1].body["messages"])
    live_html = _conversation_html(page)

    # ...and a reload draws exactly what was drawn live: tool calls, badges, titles, sources.
    page.reload()
    page.wait_for_selector(".msg.assistant:nth-child(4)[data-state='done']")
    assert _conversation_html(page) == live_html
    assert page.is_hidden("#welcome")
    assert page.title() == f"{title} \u2013 Smart bot"


def test_regenerate_replaces_the_answer_and_feedback_is_kept(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=["First ", "answer."]))
    page.goto(f"{live.url}/chat")
    ask(page, "@chat say something")
    last_answer(page, "done")
    thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]
    first_run = _thread(live, thread_id)["messages"][-1]["run_id"]

    model.add(Turn(chunks=["Second ", "answer, ", "in place."], delay=0.03))
    with page.expect_request(lambda r: r.url.endswith("/stream")) as sent:
        page.click(".msg.assistant .actions .regenerate")
    assert sent.value.post_data_json == {"thread_id": thread_id, "regenerate": True,
                                         "on_disconnect": "continue"}
    last_answer(page, "done")
    assert page.locator(".msg.user").count() == 1 and page.locator(".msg.assistant").count() == 1
    assert (page.text_content(".msg.assistant .answer") or "").strip() == "Second answer, in place."
    # The thread keeps only the new answer, under a new run.
    stored = _thread(live, thread_id)["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "@chat say something"), ("assistant", "Second answer, in place.")]
    assert stored[-1]["run_id"] != first_run

    # A thumbs down with a comment: stored with the answer, and shown after a reload.
    page.click(".msg.assistant .actions .down")
    page.fill(".msg.assistant .feedback-form textarea", "Too vague.")
    page.click(".msg.assistant .feedback-form button[type=submit]")
    page.wait_for_selector(".msg.assistant .feedback-note")
    assert _thread(live, thread_id)["messages"][-1]["feedback"] == {
        "run_id": stored[-1]["run_id"], "score": -1, "comment": "Too vague."}
    page.reload()
    last_answer(page, "done")
    assert page.get_attribute(".msg.assistant .actions .down", "aria-pressed") == "true"
    assert page.get_attribute(".msg.assistant .actions .up", "aria-pressed") == "false"
    note = page.text_content(".msg.assistant .feedback-note")
    assert note == "Your comment: \u201cToo vague.\u201d"
    # Changed to a thumbs up (no comment): it replaces the first.
    page.click(".msg.assistant .actions .up")
    page.click(".msg.assistant .feedback-form button.secondary")  # Skip
    page.wait_for_function("() => document.querySelector('.msg.assistant .actions .up')"
                           ".getAttribute('aria-pressed') === 'true'")
    assert _thread(live, thread_id)["messages"][-1]["feedback"]["score"] == 1


MARKDOWN = """## Tides and the Moon

The Moon *pulls* the oceans; ~~the Sun does nothing~~ the Sun helps too.
See [the tides section](moon.md#tides) and https://example.org/tides [[1]](corpus/moon.md#tides).

1. High tide
   1. Facing the Moon
   2. Opposite side
2. Low tide
   - in between

> Twice a day in most places.

| Body | Distance (km) |
|:-----|--------------:|
| Moon | 384,400 |
| Sun | 149,600,000 |

```python
def tide(hours):
    return hours % 12.42
```

- [x] checked
"""


def test_markdown_as_people_write_it(server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    chunks = [MARKDOWN[i:i + 7] for i in range(0, len(MARKDOWN), 7)]
    model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "tides"}}]),
              Turn(chunks=chunks, delay=0.005))
    page.goto(f"{live.url}/chat")
    ask(page, "@docsearch tell me about tides")
    last_answer(page, "done")
    answer = page.locator(".msg.assistant .answer")

    assert answer.locator("h4").text_content() == "Tides and the Moon"
    assert answer.locator("em").text_content() == "pulls"
    assert answer.locator("del").text_content() == "the Sun does nothing"
    autolink = answer.locator("a[href='https://example.org/tides']")
    assert autolink.get_attribute("target") == "_blank"
    outer = answer.locator(".blocks > ol")
    assert outer.count() == 1 and outer.locator(":scope > li").count() == 2
    assert outer.locator(":scope > li").nth(0).locator("ol > li").all_text_contents() == [
        "Facing the Moon", "Opposite side"]
    second = outer.locator(":scope > li").nth(1)
    assert second.locator("ul > li").all_text_contents() == ["in between"]
    quote = answer.locator("blockquote").text_content() or ""
    assert quote.strip() == "Twice a day in most places."
    table = answer.locator(".table-wrap table")
    assert table.locator("th").all_text_contents() == ["Body", "Distance (km)"]
    sun = table.locator("tbody tr").nth(1)
    assert sun.locator("td").all_text_contents() == ["Sun", "149,600,000"]
    assert table.locator("th").nth(1).get_attribute("align") == "right"
    assert "\u2611 checked" in (answer.locator("li").last.text_content() or "")

    code = answer.locator(".code-block")
    assert code.locator(".code-lang").text_content() == "python"
    assert code.locator("pre").text_content() == "def tide(hours):\n    return hours % 12.42\n"
    code.locator(".code-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == (
        "def tide(hours):\n    return hours % 12.42\n")

    # A relative link the model copied from a passage leads to that passage's document.
    relative = answer.locator("a", has_text="the tides section")
    assert relative.get_attribute("data-preview") == "corpus/moon.md#tides"
    relative.click()
    assert page.text_content("#source-dialog .preview-title") == "Tides"
    assert "twice a day" in (page.text_content("#source-dialog .preview-body") or "")
    page.click("#source-dialog .code-copy")  # a code block's Copy works in the preview too
    assert page.evaluate("navigator.clipboard.readText()") == TIDE_TABLE
    page.click("#source-dialog .preview-close")
    assert page.is_hidden("#source-dialog")


HOSTILE = [
    '<img src=x onerror="window.pwned=1"> **bold** `code` ',
    "<script>window.pwned=2</script> <iframe src=\"javascript:window.pwned=3\"></iframe> ",
    '<svg onload="window.pwned=4"></svg> [click](javascript:window.pwned=5) ',
    "[[1]](javascript:window.pwned=6) <a href=\"javascript:window.pwned=7\">seven</a> ",
    "![pixel](https://evil.example/pixel.png) ![js](javascript:window.pwned=8) [ref][r] ",
    "<javascript:window.pwned=10> [x](JaVaScRiPt:window.pwned=11) ",
    "[y](&#106;avascript:window.pwned=12) [z](data:text/html,<script>window.pwned=13</script>) ",
    '<details open ontoggle="window.pwned=14">d</details> <style>body{display:none}</style> ',
    '<form action="https://evil.example"><button>go</button></form> ',
    '<math><mi xlink:href="javascript:window.pwned=17">m</mi></math> ',
    '<base href="https://evil.example/"> ',
    '[t](https://example.org/docs "a\\" onmouseover=\\"window.pwned=19") ',
    '[[2]](https://evil.example/" onclick="window.pwned=21) [[3]](corpus/hostile.md#hostile)\n\n',
    '```x" onclick="window.pwned=18\ncode\n```\n\n[r]: javascript:window.pwned=9\n\n- one\n- two',
]
HOSTILE_TOOL = '<img src=x onerror="window.pwned=30">'
ALLOWED_TAGS = {"div", "p", "br", "hr", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
                "pre", "code", "em", "strong", "del", "a", "table", "thead", "tbody", "tr", "th",
                "td", "span", "button"}
INERT = """(root) => {
  const bad = [];
  for (const node of root.querySelectorAll('*')) {
    for (const attr of node.attributes) {
      if (/^on/i.test(attr.name) || ['style', 'srcdoc'].includes(attr.name)) {
        bad.push(`${node.tagName} ${attr.name}`);
      }
    }
    const href = node.getAttribute('href');
    if (href !== null && !/^(https?:\\/\\/|#)/i.test(href)) bad.push(`href ${href}`);
  }
  return {bad, tags: [...new Set([...root.querySelectorAll('*')].map((n) => n.localName))]};
}"""


def _inert(page: Page, selector: str) -> set[str]:
    found: dict[str, Any] = page.eval_on_selector(selector, INERT)
    assert found["bad"] == [], f"live attributes or links in {selector}: {found['bad']}"
    return set(found["tags"])


def test_model_text_and_tool_output_are_shown_inert(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "hostile"}},
                               {"name": HOSTILE_TOOL, "arguments": {"q": HOSTILE_TOOL}}]),
              Turn(chunks=HOSTILE))
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(r.url))
    page.goto(f"{live.url}/chat")
    ask(page, "@docsearch show me HTML")
    last_answer(page, "done")
    answer = page.locator(".msg.assistant .answer")
    text = answer.text_content() or ""

    assert page.evaluate("window.pwned") is None
    tags = _inert(page, ".msg.assistant")
    assert tags <= ALLOWED_TAGS | {"article", "h2", "details", "summary", "svg", "path", "ol",
                                   "h3"}, tags
    assert _inert(page, ".msg.assistant .answer") <= ALLOWED_TAGS
    for shown in ('<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>",
                  "<style>body{display:none}</style>", '<base href="https://evil.example/">'):
        assert shown in text, f"{shown} is shown as text"
    assert answer.locator("strong").text_content() == "bold"
    assert answer.locator("li").all_text_contents() == ["one", "two"]
    assert answer.locator(".code-lang").text_content() == "x"  # the rest of the info string is not
    assert not [u for u in requests_seen if "evil.example" in u], "nothing loaded from elsewhere"
    hrefs = answer.locator("a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert "https://example.org/docs" in hrefs

    # The hostile tool call and its output are text.
    failed = page.locator(".tool", has_text="failed")
    assert failed.locator(".tool-name").text_content() == HOSTILE_TOOL
    failed.locator("summary").click()
    assert HOSTILE_TOOL in (failed.locator(".tool-output").text_content() or "")

    # The hostile document's passage, previewed, is inert too.
    page.click(".source-list a[data-preview='corpus/hostile.md#hostile']")
    page.wait_for_selector("#source-dialog[open]")
    assert "onerror" in (page.text_content("#source-dialog .preview-body") or "")
    assert _inert(page, "#source-dialog") <= ALLOWED_TAGS | {"dialog", "h2", "svg", "path"}
    assert page.evaluate("window.pwned") is None


def test_keep_alives_a_key_from_the_fragment_and_a_new_chat(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=["Hello ", "there!"], first_delay=1.0))  # keep-alives come first
    page.goto(f"{live.url}/chat#code=the-key")  # a fragment never reaches a server's log
    assert "code=" not in page.url, "the key does not stay in the address bar"
    assert page.is_visible("#key-panel") and page.input_value("#function-key") == "the-key"
    assert page.text_content("#notice") == "Function key saved for this tab."
    page.evaluate(FRAME_LOG)
    with page.expect_request(lambda r: r.url.endswith("/stream")) as sent:
        ask(page, "@chat hello")
    last_answer(page, "done")
    assert sent.value.headers["x-functions-key"] == "the-key"
    assert sent.value.headers["content-type"] == "application/json"
    assert (page.text_content(".msg.assistant .answer") or "").strip() == "Hello there!"
    statuses = [f["status"] for f in _frames(page)]
    assert "Still working\u2026" in statuses, f"keep-alives were not seen: {statuses}"

    page.reload()  # the key stays for this tab, and the thread comes back
    assert page.input_value("#function-key") == "the-key"
    page.wait_for_selector(".msg.assistant[data-state='done']")
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    assert "thread_id" not in page.url and page.is_visible("#welcome")
    assert page.evaluate("document.activeElement.id") == "question"

    # A key in the query string has reached the server's log already: dropped, not used.
    page.goto(f"{live.url}/chat?code=from-the-query")
    assert "code=" not in page.url
    assert page.input_value("#function-key") == "the-key"
    assert "#code=" in (page.text_content("#notice") or "")
    assert re.search(r"was not used", page.text_content("#notice") or "")
