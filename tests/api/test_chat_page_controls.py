"""The chat page's controls and failures in headless Chromium against the real dev server (its
model a loopback OpenAI-protocol server with scripted, paced replies).

Stop stops the answer, with an empty box or a draft in it, by button or Escape (the page asks
the server to stop the run, which closes the model's stream), and Enter while an answer
streams never does; Retry
answers again without asking twice; `Retry-After` (429 from the model, 409 from a busy thread)
is counted down; a cut connection and an unreachable or offline server are said in plain words;
the input counter keeps a question within MAX_INPUT_CHARS; and the function-key field comes only
when a 401 asks for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page

from standins.model_service import FakeOpenAI, Turn, rate_limited
from standins.processes import LiveServer
from tests.support.chatpage.browser import WAIT_MS, ask, last_answer, tab
from tests.support.chatpage.front import front
from tests.support.dev_server import model_and_server

SLOW = [f"word{i} " for i in range(300)]
STOPPED = "Stopped."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with model_and_server(tmp_path_factory.mktemp("chat-controls"),
                          {"MAX_INPUT_CHARS": "500"}) as (model, live):
        yield model, live


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    with tab(browser) as opened:
        yield opened


def _until(check: object, what: str) -> None:
    """Poll a condition of the test's own (not the page's) with a deadline."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _streaming_text(page: Page) -> None:
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .answer')?.textContent > ''")


def test_stop_stops_whatever_the_box_holds_and_enter_never_does(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    page.goto(f"{live.url}/chat")
    for how in ("click with a draft", "click with an empty box", "Escape"):
        chunks = [f"{how[:5]}{i} " for i in range(40)]
        model.add(Turn(chunks=chunks, delay=0.04))
        outcomes = len(model.outcomes)
        ask(page, f"@chat count slowly ({how})")
        _streaming_text(page)
        assert page.is_visible("#stop") and page.is_hidden("#send")
        if how == "click with a draft":
            page.fill("#question", "a draft")
            page.press("#question", "Enter")  # ignored while the answer streams
            assert page.get_attribute(".msg.assistant:last-child", "data-state") == "streaming"
            assert page.input_value("#question") == "a draft"
        if how == "Escape":
            page.keyboard.press("Escape")
        else:
            page.click("#stop")
        last_answer(page, "stopped")
        assert page.text_content(".msg.assistant:last-child .status .message") == STOPPED
        shown = page.text_content(".msg.assistant:last-child .answer")
        assert page.evaluate("document.activeElement.id") == "question"
        assert page.is_visible("#send") and page.is_hidden("#stop")
        assert page.input_value("#question") == ("a draft" if how == "click with a draft" else "")
        # The page asked for "on_disconnect": "continue" (to rejoin after a reload or a cut),
        # and Stop asked the server to stop the run: the model's stream was closed early.
        _until(lambda n=outcomes: len(model.outcomes) > n and model.outcomes[n].cancelled,
               "the run to be stopped on the server")
        assert model.outcomes[outcomes].chunks_sent < len(chunks)
        assert page.text_content(".msg.assistant:last-child .answer") == shown
        assert len((shown or "").split()) < len(chunks)
        page.fill("#question", "")
        page.click("#new-chat")
    assert page.locator(".msg").count() == 0


def test_retry_answers_again_without_asking_twice_and_waits_out_retry_after(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    model, live = server
    model.script.clear()
    model.add(Turn(chunks=["Partial ", "answer ", "never finished"], delay=0.02, fail_after=2))
    page.goto(f"{live.url}/chat")
    ask(page, "@chat say something")
    last_answer(page, "error")
    message = page.text_content(".msg.assistant .status .message") or ""
    assert message.startswith("Error (502): The model service could not answer"), message
    assert page.get_attribute(".msg.assistant .status .message", "role") == "alert"
    assert (page.text_content(".msg.assistant .answer") or "").strip() == "Partial answer"

    model.add(Turn(chunks=["Whole ", "answer."]))
    page.click(".msg.assistant .retry")
    last_answer(page, "done")
    assert page.locator(".msg.user").count() == 1 and page.locator(".msg.assistant").count() == 1
    assert (page.text_content(".msg.assistant .answer") or "").strip() == "Whole answer."
    assert page.evaluate("document.activeElement.id") == "question"

    # Rate limited by the model service: Retry waits as long as the service asked.
    model.add(rate_limited(retry_after=2))
    ask(page, "@chat again")
    last_answer(page, "error")
    retry = page.locator(".msg.assistant:last-child .retry")
    assert (page.text_content(".msg.assistant:last-child .message") or "").startswith("Error (429)")
    assert retry.is_disabled() and (retry.text_content() or "").startswith("Retry in ")
    page.wait_for_function(
        "(b) => !b.disabled && b.textContent === 'Retry'", arg=retry.element_handle())
    model.add(Turn(chunks=["Fine ", "now."]))
    retry.click()
    last_answer(page, "done")
    assert page.locator(".msg.user").count() == 2

    # A thread busy with another turn: 409 and its Retry-After, counted down, then answered.
    thread_id = page.url.split("thread_id=")[1]
    hold = threading.Event()
    model.add(Turn(chunks=["held"], hold=hold))
    outcomes = len(model.outcomes)
    other = threading.Thread(target=lambda: requests.post(
        f"{live.url}/stream", json={"user_input": "@chat hold on", "thread_id": thread_id},
        timeout=60).content)
    other.start()
    try:
        _until(lambda: len(model.outcomes) > outcomes, "the other turn to hold the thread")
        ask(page, "@chat now?")
        last_answer(page, "error")
        text = page.text_content(".msg.assistant:last-child .message") or ""
        assert text.startswith("Error (409): Thread") and "busy" in text, text
        assert retry.is_disabled() and "Retry in" in (retry.text_content() or "")
    finally:
        hold.set()
        other.join(timeout=30)
    page.wait_for_function(
        "(b) => !b.disabled && b.textContent === 'Retry'", arg=retry.element_handle())
    model.add(Turn(chunks=["Free ", "again."]))
    retry.click()
    last_answer(page, "done")
    assert page.locator(".msg.user").count() == 3


def test_network_failures_are_said_in_plain_words(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    with model_and_server(tmp_path_factory.mktemp("chat-outage"),
                          {"MAX_INPUT_CHARS": "500"}) as (model, live), tab(browser) as page:
        model.add(Turn(chunks=SLOW, delay=0.05))
        page.goto(f"{live.url}/chat")
        ask(page, "@chat count slowly")
        _streaming_text(page)
        live.process.kill()  # the server goes away mid-answer
        last_answer(page, "cut")
        assert page.text_content(".msg.assistant .status .message") == (
            "The connection was lost before the answer was complete.")
        page.click(".msg.assistant .retry")
        page.wait_for_function(
            "() => document.querySelector('.msg.assistant .message')?.textContent"
            ".startsWith('Couldn')")
        assert page.text_content(".msg.assistant .status .message") == (
            "Couldn\u2019t reach the server. Check your connection, then try again.")
        assert page.locator(".msg.user").count() == 1

        page.context.set_offline(True)
        page.click(".msg.assistant .retry")
        page.wait_for_function(
            "() => document.querySelector('.msg.assistant .message')?.textContent"
            ".includes('offline')")
        assert page.text_content(".msg.assistant .status .message") == (
            "You\u2019re offline. Check your connection, then try again.")
        page.context.set_offline(False)


def test_the_input_counter_keeps_a_question_within_the_limit(
        server: tuple[FakeOpenAI, LiveServer], page: Page) -> None:
    _, live = server
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/stream") else None)
    page.goto(f"{live.url}/chat")
    page.wait_for_function("() => document.getElementById('question') === document.activeElement")
    page.fill("#question", "x" * 399)
    assert page.is_hidden("#counter")
    page.fill("#question", "x" * 400)
    page.wait_for_selector("#counter:not([hidden])")
    assert page.text_content("#counter") == "400 / 500"
    page.fill("#question", "x" * 501)
    assert page.text_content("#counter") == "1 character over the limit of 500"
    assert page.get_attribute("#question", "aria-invalid") == "true"
    page.press("#question", "Enter")
    page.wait_for_function("() => document.getElementById('announcer').textContent.includes('ove')")
    assert page.locator(".msg").count() == 0 and not sent
    page.fill("#question", "x" * 500)
    assert page.get_attribute("#question", "aria-invalid") is None


def test_the_key_field_comes_when_a_401_asks_for_it(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    model.script.clear()
    with front(live.url, key="k3y") as gate, tab(browser) as page:
        page.goto(f"{gate.url}/chat")
        assert page.is_hidden("#key-panel"), "no key field before a 401"
        ask(page, "@chat hello")
        last_answer(page, "error")
        assert page.text_content(".msg.assistant .message") == (
            "Error (401): This server needs a function key.")
        assert page.is_visible("#function-key")
        assert page.evaluate("document.activeElement.id") == "function-key"
        model.add(Turn(chunks=["Keyed ", "answer."]))
        page.fill("#function-key", "k3y")
        page.press("#function-key", "Enter")  # saved: the question is asked again, once
        last_answer(page, "done")
        assert (page.text_content(".msg.assistant .answer") or "").strip() == "Keyed answer."
        assert page.locator(".msg.user").count() == 1
        assert page.evaluate("document.activeElement.id") == "question"
        page.click("#key-panel summary")
        assert page.is_visible("#function-key")
        page.keyboard.press("Escape")  # closes the panel
        assert page.is_hidden("#function-key")
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
