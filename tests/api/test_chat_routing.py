"""General conversation over HTTP, in the real dev server: greetings and questions no
configured specialist fits go to `chat`, which answers without tools or citations.

With the offline model (embedded defaults) and with the OpenAI protocol (a loopback server),
where the tests check what the model was sent: the router offered `chat`, and the chat call
carried no tools and a prompt listing the specialists and the settings of the missing ones.
"""

from __future__ import annotations

from pathlib import Path

import requests

from standins.model_service import Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sse import by_type, stream


def _chat_turn(server: LiveServer, question: str, thread_id: str) -> str:
    """Stream one question; assert it streamed from `chat` with no tool; the answer."""
    _, events = stream(f"{server.url}/stream", {"user_input": question, "thread_id": thread_id})
    names = [e.event for e in events]
    assert names[0] == "metadata" and names[-1] == "end", names
    assert not by_type(events, "on_tool_start"), "chat calls no tool"
    assert len(by_type(events, "data")) > 3, "the answer streams token by token"
    thread = requests.get(f"{server.url}/threads/{thread_id}", timeout=30).json()
    assert thread["messages"][-1]["agent"] == "chat"
    return events[-1].data


def test_offline_greeting_gets_what_the_bot_can_do(offline_server: LiveServer) -> None:
    answer = _chat_turn(offline_server, "hello, who are you?", "chat-hello")
    assert answer.startswith("Hello!")
    assert "- @docsearch: searches the document index" in answer
    assert "- @sqlsearch: answers questions about data in the SQL database" in answer
    assert "@apisearch (set APISEARCH_OPENAPI_SPEC)" in answer
    assert "none of them mentions" not in answer and "[[" not in answer


def test_offline_question_for_a_missing_specialist_names_its_setting(
        offline_server: LiveServer) -> None:
    answer = _chat_turn(offline_server, "What is the price of bitcoin?", "chat-btc")
    assert answer.startswith("That needs @apisearch")
    assert "not configured on this server" in answer and "APISEARCH_OPENAPI_SPEC" in answer
    assert "[[" not in answer
    body = requests.post(f"{offline_server.url}/invoke", timeout=30, json={
        "user_input": "@chat thanks!", "thread_id": "chat-btc"}).json()
    assert body["agent"] == "chat" and body["final_answer"].startswith("You're welcome")


def test_a_real_model_routes_to_chat_which_gets_no_tools(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "OPENAI_API_KEY": "k", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "RouteDecision", "arguments": {"next": "chat"}}]),
                  Turn(chunks=["Hi! ", "I can ", "search ", "the docs ", "and the COVID data."]))
        answer = _chat_turn(server, "hey, what can you do?", "chat-real")
        route, chat = model.requests
    assert answer == "Hi! I can search the docs and the COVID data."
    [decision] = route.body["tools"]
    assert decision["function"]["parameters"]["properties"]["next"]["enum"] == [
        "docsearch", "sqlsearch", "chat"]
    assert "otherwise pick chat" in route.body["messages"][0]["content"]
    assert "tools" not in chat.body and "tool_choice" not in chat.body
    system, user = chat.body["messages"]
    assert system["role"] == "system" and "never cite" in system["content"]
    assert "- @docsearch — available — " in system["content"]
    assert ("- @apisearch — not configured (enable with APISEARCH_OPENAPI_SPEC) — "
            in system["content"])
    assert user == {"role": "user", "content": "hey, what can you do?"}
