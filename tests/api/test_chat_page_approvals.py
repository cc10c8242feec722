"""Tool calls a person approves first (APPROVE_TOOLS=sqlsearch,apisearch), decided from the chat
page in headless Chromium against the real dev server: its model a loopback OpenAI-protocol
server scripting the calls, sqlsearch on the bundled COVID database, apisearch on the sample
crypto API served on loopback.

- A SQL query waits: the page shows it as a code block, as the SQL guard will run it (not as
  the model wrote it), with Approve, Edit and Reject, and again after a reload (the thread's
  `pending`). An edit the guard refuses is said in the server's words, the call still waiting;
  an edit it takes runs (the tool's input is the edited query) and the answer streams on.
- An API call waits: its method (GET), operation and parameters; approved, it runs and the
  answer streams; a later call, rejected with a message, runs nothing, and the model is told.
- axe-core finds no WCAG 2.2 AA violation on the panel, with a refusal shown, light and dark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette

from standins.loopback_http import serve_app
from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer
from tests.support.chatpage.browser import ARTIFACTS, ask, axe, last_answer, tab
from tests.support.dev_server import model_and_server
from tests.support.sample_api import create_app

QUESTION = "@sqlsearch which state had the most COVID deaths in 2020?"
WRITTEN = ("select state, max(death) as deaths_2020 from covid_daily where date <= '2020-12-31' "
           "group by state order by deaths_2020 desc limit 1 -- the worst")
MOST_DEATHS_2020 = (
    "SELECT state, MAX(death) AS deaths_2020 FROM covid_daily "
    "WHERE date <= '2020-12-31' GROUP BY state ORDER BY deaths_2020 DESC LIMIT 1")
NEW_YORK = "SELECT state, MAX(death) AS deaths FROM covid_daily WHERE state = 'NY' GROUP BY state"
REFUSED = ("Edit refused by sql_query: Only SELECT queries are allowed, not DELETE. The call "
           "still waits for a decision.")
PAUSED = ".msg.assistant:last-child[data-state='paused']"


@pytest.fixture(scope="module")
def sample_api() -> Iterator[tuple[str, Starlette]]:
    app = create_app()
    with serve_app(app) as base_url:
        yield base_url, app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_api: tuple[str, Starlette],
           ) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    env = {"APPROVE_TOOLS": "sqlsearch,apisearch", "OUTBOUND_ALLOW_PRIVATE": "true",
           "APISEARCH_OPENAPI_SPEC": f"{sample_api[0]}/openapi.json"}
    with model_and_server(tmp_path_factory.mktemp("chat-approvals"), env) as (model, live):
        yield model, live


def _call(name: str, **args: Any) -> Turn:
    return Turn(tool_calls=[{"name": name, "arguments": args}])


def _pending(live: LiveServer, page: Page) -> dict[str, Any] | None:
    thread_id = parse_qs(urlparse(page.url).query)["thread_id"][0]
    thread = requests.get(f"{live.url}/threads/{thread_id}", timeout=30).json()
    pending: dict[str, Any] | None = thread["pending"]
    return pending


def _tool_results(model: FakeOpenAI) -> list[str]:
    """The tool results the model was given in its last request."""
    return [m["content"] for m in model.requests[-1].body["messages"] if m["role"] == "tool"]


def _api_calls(api: Starlette) -> list[tuple[str, str]]:
    """The calls the sample API got (not the server's reading of its spec)."""
    return [(r["raw_path"], r["query"]) for r in api.state.requests
            if r["raw_path"].startswith("/v1/")]


def _no_violations(page: Page, where: str) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        assert axe(page) == [], f"axe, {where}, {scheme} mode"
    page.emulate_media(color_scheme="light")


def test_a_query_waits_is_shown_after_a_reload_and_runs_as_edited(
        server: tuple[FakeOpenAI, LiveServer], browser: Browser) -> None:
    model, live = server
    model.script.clear()
    model.add(_call("sql_query", query=WRITTEN))
    with tab(browser) as page:
        page.goto(f"{live.url}/chat")
        ask(page, QUESTION)
        page.wait_for_selector(PAUSED)
        panel = page.locator(".msg.assistant .approval")
        assert panel.locator(".approval-title").text_content() == (
            "sqlsearch wants to run a SQL query")
        assert panel.locator("pre code").text_content() == MOST_DEATHS_2020
        assert panel.locator(".row button").all_text_contents() == ["Approve", "Edit", "Reject"]
        page.wait_for_function("() => document.getElementById('announcer').textContent"
                               ".includes('waiting for your approval')")
        assert page.is_visible("#send"), "nothing streams while the call waits"
        waiting = _pending(live, page)
        assert waiting is not None and waiting["args"] == {"query": MOST_DEATHS_2020}

        page.reload()  # the call still waits: from the thread's `pending`
        page.wait_for_selector(PAUSED)
        assert panel.locator("pre code").text_content() == MOST_DEATHS_2020
        assert page.locator(".msg.assistant .tool").count() == 0, "no call ran"
        assert panel.get_attribute("data-interrupt-id") == waiting["interrupt_id"]

        # An edit the SQL guard refuses: said in its words, and the call still waits.
        panel.locator("button", has_text="Edit").click()
        editor = panel.locator("textarea")
        assert editor.input_value() == MOST_DEATHS_2020
        assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
        editor.fill("DELETE FROM covid_daily")
        panel.locator("button[type=submit]").click()
        page.wait_for_selector(".approval-problem:not(:empty)")
        assert panel.locator(".approval-problem").text_content() == REFUSED
        assert panel.locator(".approval-problem").get_attribute("role") == "alert"
        assert page.get_attribute(".msg.assistant", "data-state") == "paused"
        assert _pending(live, page) == waiting
        _no_violations(page, "a waiting query with a refused edit")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat-approval.png"))

        # An edit it takes runs, and the answer streams on in the same place.
        model.add(Turn(chunks=["New York ", "had the most: ", "[[1]](https://covidtracking.com/data)."],
                       delay=0.02))
        editor.fill(NEW_YORK)
        with page.expect_request(lambda r: r.url.endswith("/stream")) as sent:
            panel.locator("button[type=submit]").click()
        assert sent.value.post_data_json == {
            "thread_id": waiting["thread_id"], "on_disconnect": "continue",
            "resume": {"interrupt_id": waiting["interrupt_id"], "decision": "edit",
                       "args": {"query": NEW_YORK}}}
        last_answer(page, "done")
        assert page.locator(".msg.assistant .approval").count() == 0
        tool = page.locator(".msg.assistant .tool")
        assert tool.locator(".tool-name").text_content() == "sql_query"
        assert json.loads(tool.locator(".tool-input").text_content() or "") == {"query": NEW_YORK}
        assert "New York had the most" in (page.text_content(".msg.assistant .answer") or "")
        assert '"NY"' in _tool_results(model)[-1]
        assert _pending(live, page) is None
        assert page.evaluate("document.activeElement.id") == "question"
        assert page.locator(".msg.user").count() == 1


def test_an_api_call_is_shown_approved_and_a_later_one_rejected(
        server: tuple[FakeOpenAI, LiveServer], sample_api: tuple[str, Starlette],
        browser: Browser) -> None:
    model, live = server
    _, api = sample_api
    api.state.requests.clear()
    model.script.clear()
    words = [f"w{i:02d} " for i in range(50)]
    model.add(_call("getPrice", symbol="ETH", currency="EUR"),
              Turn(chunks=["ETH is 3170.12 EUR. ", *words], delay=0.03))
    with tab(browser) as page:
        page.goto(f"{live.url}/chat")
        ask(page, "@apisearch what is ETH worth in EUR?")
        page.wait_for_selector(PAUSED)
        panel = page.locator(".msg.assistant .approval")
        assert panel.locator(".approval-title").text_content() == (
            "apisearch wants to make an API call")
        request = panel.locator(".call-request")
        assert request.locator("dt").all_text_contents() == ["Method", "Operation"]
        assert request.locator("dd").all_text_contents() == ["GET", "getPrice"]
        rows = panel.locator(".call-params tbody tr")
        assert [(r.locator("th").text_content(), r.locator("td").text_content())
                for r in rows.all()] == [("symbol", "ETH"), ("currency", "EUR")]
        assert _api_calls(api) == [], "nothing was sent before the approval"
        _no_violations(page, "a waiting API call")

        panel.locator("button", has_text="Approve").click()
        page.wait_for_function("() => document.querySelector('.msg.assistant .answer')"
                               ".textContent.includes('w05')")
        page.reload()  # mid-answer after the decision: the answer is drawn again and finished
        last_answer(page, "done")
        assert _api_calls(api) == [("/v1/price", "symbol=ETH&currency=EUR")]
        assert (page.text_content(".msg.assistant .answer") or "").strip() == (
            "ETH is 3170.12 EUR. " + "".join(words)).strip()
        assert page.locator(".msg.assistant .approval").count() == 0
        assert page.locator(".msg.user").count() == 1
        tool = page.locator(".msg.assistant .tool")
        tool.locator("summary").click()
        assert "/v1/price?symbol=ETH&currency=EUR" in (tool.locator(".tool-output").text_content()
                                                       or "")

        # A later call, rejected with a message: nothing is sent, the model is told why.
        model.add(_call("listAssets", limit=1),
                  Turn(chunks=["Fine, ", "I won't list them."]))
        ask(page, "@apisearch and which assets are listed?")
        page.wait_for_selector(PAUSED)
        panel = page.locator(".msg.assistant:last-child .approval")
        panel.locator("button", has_text="Reject").click()
        assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
        panel.locator("textarea").fill("Not today, thanks.")
        panel.locator("button[type=submit]").click()
        last_answer(page, "done")
        assert (page.text_content(".msg.assistant:last-child .answer") or "").strip() == (
            "Fine, I won't list them.")
        assert len(_api_calls(api)) == 1, "the rejected call was not sent"
        assert "Not today, thanks." in _tool_results(model)[-1]
        assert _pending(live, page) is None
