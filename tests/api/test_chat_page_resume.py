"""Answers that survive the connection, in headless Chromium against the real dev server (its
model a loopback OpenAI-protocol server pacing unique tokens, so a token drawn twice or lost
shows in the text).

The page asks `/stream` with `"on_disconnect": "continue"`, and:
- reloaded mid-answer during a thread's first turn (the thread isn't on the server yet: 404),
  rejoins from what it kept in session storage (`GET /threads/{t}/runs/{r}/stream` with
  `Last-Event-ID` = the last event it had drawn) and finishes the answer: the text drawn right
  after the reload is exactly the tokens up to that id, and the final text the saved answer;
- another tab, with nothing kept, opening the thread mid-answer joins the run from its start
  (`active_run` of the thread view) and ends showing the question and the saved answer;
- a stream cut by the network (a front that drops it, then refuses the first tries with 502)
  is rejoined with backoff, the page saying it is reconnecting (axe-checked in light and dark),
  and the answer ends whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page, Request

from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer
from tests.support.chatpage.browser import ask, axe, last_answer, tab
from tests.support.chatpage.front import front
from tests.support.dev_server import model_and_server

# The last answer's text, each time it changed, frame by frame (from the document's start).
FRAMES = """
window.__frames = [];
const tick = () => {
  const answers = document.querySelectorAll('.msg.assistant');
  const last = answers[answers.length - 1];
  const text = last ? last.querySelector('.answer').textContent : '';
  const seen = window.__frames;
  if (text && text !== seen[seen.length - 1]) seen.push(text);
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
"""


def tokens(tag: str, n: int) -> list[str]:
    return [f"{tag}{i:03d} " for i in range(n)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with model_and_server(tmp_path_factory.mktemp("chat-resume"),
                          {}) as (model, live):
        yield model, live


def _answer(page: Page) -> str:
    return page.text_content(".msg.assistant:last-child .answer") or ""


def _words(page: Page, at_least: int) -> None:
    page.wait_for_function(
        "(n) => (document.querySelector('.msg.assistant:last-child .answer')?.textContent || '')"
        ".trim().split(/\\s+/).length >= n", arg=at_least)


def _saved_answer(live: LiveServer, thread_id: str) -> str:
    thread: dict[str, Any] = requests.get(f"{live.url}/threads/{thread_id}", timeout=30).json()
    content: str = thread["messages"][-1]["content"]
    return content


def _rejoins(requests_seen: list[Request]) -> list[Request]:
    return [r for r in requests_seen if r.method == "GET" and "/runs/" in r.url]


def test_a_reload_mid_answer_rejoins_where_it_stopped_and_another_tab_joins_from_the_start(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    model.script.clear()
    first = tokens("a", 80)
    model.add(Turn(chunks=first, delay=0.03))
    with tab(browser) as page:
        page.context.add_init_script(FRAMES)
        seen: list[Request] = []
        page.on("request", lambda r: seen.append(r))
        statuses: dict[str, int] = {}  # each path's first answer
        page.on("response", lambda r: statuses.setdefault(urlparse(r.url).path, r.status))
        page.goto(f"{live.url}/chat")
        calls = len(model.requests)
        ask(page, "@chat count to eighty")
        _words(page, 15)
        thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]
        page.reload()
        last_answer(page, "done")

        # The thread wasn't on the server yet: what the tab kept let it rejoin.
        assert statuses[f"/threads/{thread_id}"] == 404
        [rejoin] = _rejoins(seen)
        after = int(rejoin.headers["last-event-id"])  # events: metadata 1, tokens 2..81, end
        assert 15 <= after < 81, after
        frames: list[str] = page.evaluate("window.__frames")
        assert frames[0].strip() == "".join(first[:after - 1]).strip(), "what was drawn, no more"
        assert all(b.startswith(a.rstrip()) for a, b in pairwise(frames))
        answer = "".join(first)
        assert _answer(page).strip() == answer.strip() == _saved_answer(live, thread_id).strip()
        assert page.locator(".msg.user .bubble").all_text_contents() == ["@chat count to eighty"]
        assert len(model.requests) == calls + 1, "asked once; the run went on through the reload"
        assert not model.outcomes[-1].cancelled
        assert page.evaluate("sessionStorage.length") == 0, "forgotten at the end"

        # A second question; another tab (nothing kept) opens the thread mid-answer.
        second = tokens("b", 60)
        model.add(Turn(chunks=second, delay=0.03))
        ask(page, "@chat and now to sixty")
        _words(page, 5)
        with tab(browser) as other:
            other.context.add_init_script(FRAMES)
            joined: list[Request] = []
            other.on("request", lambda r: joined.append(r))
            other.goto(page.url)
            other.wait_for_selector(".msg.user .bubble:text-is('@chat and now to sixty')")
            last_answer(other, "done")
            [rejoin] = _rejoins(joined)
            assert "last-event-id" not in rejoin.headers, "from the start"
            assert _answer(other).strip() == "".join(second).strip()
            assert other.locator(".msg.user .bubble").all_text_contents() == [
                "@chat count to eighty", "@chat and now to sixty"]
        last_answer(page, "done")
        assert _answer(page).strip() == "".join(second).strip() == _saved_answer(
            live, thread_id).strip()


def test_a_dropped_connection_is_rejoined_with_backoff(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    model.script.clear()
    answer = tokens("c", 120)
    model.add(Turn(chunks=answer, delay=0.03))
    with front(live.url) as gate, tab(browser) as page:
        page.add_init_script(FRAMES)
        page.goto(f"{gate.url}/chat")
        ask(page, "@chat count to a hundred and twenty")
        _words(page, 10)
        gate.cut(refuse=2)  # the stream drops; the first two tries to rejoin get a 502
        page.wait_for_selector(".msg.assistant .status.reconnecting")
        assert page.get_attribute(".msg.assistant", "data-state") == "streaming"
        assert page.is_visible("#stop"), "Stop still ends it"
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            assert axe(page) == [], f"axe, reconnecting, {scheme} mode"
        page.emulate_media(color_scheme="light")
        last_answer(page, "done")
        thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]

        assert _answer(page).strip() == "".join(answer).strip() == _saved_answer(
            live, thread_id).strip()
        frames: list[str] = page.evaluate("window.__frames")
        assert all(b.startswith(a.rstrip()) for a, b in pairwise(frames))
        rejoins = [(path, last) for method, path, last in gate.requests
                   if method == "GET" and "/runs/" in path]
        assert len(rejoins) == 3, rejoins  # two refused, then the one that finished it
        ids = {int(last or 0) for _, last in rejoins}
        assert len(ids) == 1 and ids.pop() > 10, rejoins  # after the last event drawn
        assert page.is_hidden(".msg.assistant .status.reconnecting")
