"""The chat page's cost and accessibility, measured in headless Chromium against the real dev
server (its model a loopback OpenAI-protocol server).

- A ~1,500-token Markdown answer (paragraphs with citations, lists, a table, a code block)
  streams in at 4x CPU throttling (Chrome DevTools Protocol): the frame times are recorded and
  kept in test-artifacts/chat-frames.json, not asserted (the machine is shared); what is
  asserted is the work: blocks are finished while the text flows, each added once and never
  rebuilt, the unfinished block is redrawn at most once per frame, and the answer comes out
  whole.
- axe-core (WCAG 2.2 A and AA rules) finds no violation on the welcome screen, an answer
  streaming in (the Stop button shown), a streamed answer with a tool call, citations and its
  actions (copy, regenerate, feedback), an error, the thread list and its drawer on a phone, and
  the preview of a cited passage, in light and dark mode (the approval panel:
  test_chat_page_approvals.py; reconnecting: test_chat_page_resume.py).
- Screenshots for the README (desktop and phone) are kept in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer
from tests.conftest import CORPUS
from tests.support.chatpage.browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    ask,
    axe,
    last_answer,
    save_artifact,
    tab,
)
from tests.support.chatpage.frames import START, STOP, summary
from tests.support.dev_server import model_and_server

MOON = "corpus/moon.md#the-moon"
TIDES = "corpus/moon.md#tides"


def long_answer() -> str:
    """About 1,500 tokens of the Markdown a docsearch answer is made of."""
    parts = ["## The Moon and the tides\n"]
    for i in range(1, 10):
        parts.append(
            f"Section {i}: the Moon is Earth's only natural satellite, about 384,400 km away "
            f"on average [[1]]({MOON}). Its gravity raises two bulges in the oceans, one facing "
            f"it and one on the far side, so most coasts see two high tides a day [[2]]({TIDES}). "
            "The Sun adds its own, smaller pull: when both line up the tides are **higher** "
            "(spring tides), and when they are at right angles they are *lower* (neap tides).\n")
        parts.append(f"- point {i}.1: the lunar day lasts about 24 h 50 min\n"
                     f"- point {i}.2: high tides come about 12 h 25 min apart\n"
                     f"  1. nested detail {i}\n  2. another detail {i}\n")
    parts.append("| Body | Distance (km) | Pull on tides |\n|:--|--:|:--|\n" + "".join(
        f"| Body {i} | {i * 384_400:,} | {100 // i}% |\n" for i in range(1, 13)))
    parts.append("```python\n" + "".join(
        f"def tide_{i}(hours: float) -> float:\n    return hours % 12.42 * {i}\n\n"
        for i in range(1, 9)) + "```\n")
    parts.append(f"> Twice a day in most places [[2]]({TIDES}).\n")
    return "\n".join(parts)


def tokens(text: str) -> list[str]:
    """The answer in model-sized pieces (about four characters each)."""
    return re.findall(r"\s*[^\s]{1,5}|\s+", text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with model_and_server(tmp_path_factory.mktemp("chat-quality"),
                          {"DOCS_DIR": str(CORPUS)}) as (model, live):
        yield model, live


def _search(query: str) -> Turn:
    return Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": query}}])


def test_a_long_answer_at_4x_cpu_throttling_frame_by_frame(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    text = long_answer()
    pieces = tokens(text)
    assert 1400 <= len(pieces) <= 1700, len(pieces)
    model.script.clear()
    model.add(_search("Moon tides"), Turn(chunks=pieces, delay=0.008))
    with tab(browser) as page:
        page.goto(f"{live.url}/chat")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        page.evaluate(START)
        ask(page, "@docsearch tell me everything about the Moon and the tides")
        last_answer(page, "done", timeout_ms=90_000)
        perf: dict[str, Any] = page.evaluate(STOP)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        stats = summary(perf)
        blocks = page.locator(".msg.assistant .answer .blocks > *").count()
        copied = page.evaluate("document.querySelector('.msg.assistant .answer').textContent")

    stats.update({"tokens": len(pieces), "characters": len(text), "cpu_throttling": 4,
                  "final_blocks": blocks})
    path = save_artifact("chat-frames.json", stats)
    print(f"\nframe times at 4x CPU throttling ({path}): {stats}")
    assert "Twice a day in most places" in copied and "tide_8" in copied
    assert stats["blocks_removed"] == 0, "a finished block was rebuilt"
    assert stats["blocks_added"] == blocks, "each finished block is added once"
    assert stats["blocks_added_while_streaming"] >= blocks - 2, "blocks finish as the text flows"
    assert stats["most_live_redraws_in_a_frame"] <= 1, "at most one paint per animation frame"
    assert stats["streaming_frames"] > 20, "the answer was painted over many frames"


def _no_violations(page: Page, where: str) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        violations = axe(page)
        assert violations == [], f"axe, {where}, {scheme} mode: {violations}"
    page.emulate_media(color_scheme="light")


def _shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_no_wcag_violation_light_or_dark_and_screenshots(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    model.script.clear()
    with tab(browser, viewport=DESKTOP) as page:
        page.goto(f"{live.url}/chat")
        page.wait_for_selector("#welcome:not([hidden])")
        _no_violations(page, "the welcome screen")

        model.add(Turn(chunks=[f"word{i} " for i in range(400)], delay=0.05))
        ask(page, "Count slowly to four hundred")
        page.wait_for_function(
            "() => document.querySelector('.msg.assistant .answer')?.textContent > ''")
        _no_violations(page, "an answer streaming in, with the Stop button")
        page.click("#stop")
        last_answer(page, "stopped")

        page.click("#new-chat")
        model.add(Turn(chunks=["Hello! ", "I answer from documents, databases, APIs and the "
                               "web, with citations."]))
        ask(page, "Hello, what can you do?")
        last_answer(page, "done")
        page.click("#new-chat")
        model.add(Turn(chunks=["The tides ", "are caused"], fail_after=1))
        ask(page, "What causes the tides?")
        last_answer(page, "error")
        _no_violations(page, "an error")

        page.click("#new-chat")
        answer = (
            "The Moon is about **384,400 km** from Earth on average "
            f"[[1]]({MOON}). Its gravity raises the tides twice a day [[2]]({TIDES}).\n\n"
            "| Tide | When |\n|:--|:--|\n| High | facing the Moon, and opposite |\n"
            "| Low | in between, about 6 h later |\n\n"
            "```python\nHIGH_TIDES_PER_DAY = 2  # about 12 h 25 min apart\n```\n\n"
            "See the Moon's [Wikipedia page](https://en.wikipedia.org/wiki/Moon).")
        model.add(_search("Moon tides"), Turn(chunks=tokens(answer), delay=0.01))
        ask(page, "How far is the Moon, and what does it do to the tides?")
        last_answer(page, "done")
        page.wait_for_selector(".msg.assistant .actions .regenerate")
        page.click(".msg.assistant .tool summary")
        _no_violations(page, "a streamed answer with a tool call, citations and its actions, "
                             "and the threads")
        page.click(".msg.assistant .tool summary")
        page.hover(".msg.assistant a.cite >> nth=0")
        _shoot(page, "chat-desktop.png")
        page.emulate_media(color_scheme="dark")
        _shoot(page, "chat-desktop-dark.png")
        page.emulate_media(color_scheme="light")
        page.click(".msg.assistant a.cite >> nth=0")
        page.wait_for_selector("#source-dialog[open]")
        _no_violations(page, "the preview of a cited passage")
        page.keyboard.press("Escape")

        page.set_viewport_size(PHONE)
        page.click("#open-sidebar")
        page.wait_for_selector("#thread-list .thread-link", state="visible")
        _no_violations(page, "the thread list as a drawer on a phone")
        _shoot(page, "chat-phone-threads.png")
        page.keyboard.press("Escape")
        page.wait_for_selector("#thread-list .thread-link", state="hidden")
        page.evaluate("document.activeElement.blur()")
        _shoot(page, "chat-phone.png")
