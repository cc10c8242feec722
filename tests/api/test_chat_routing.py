"""General conversation over HTTP, in the real dev server: greetings and questions no
configured specialist fits go to `chat`, which answers without tools or citations.

With the offline model (embedded defaults) and with the OpenAI protocol (a loopback server),
where the tests check what the model was sent: a greeting is answered by the supervisor's first
call, which offered every enabled specialist's tools and listed the specialists (and the
settings of the missing ones); an `@chat` turn's call carries no tools.
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


def test_a_real_model_answers_a_greeting_in_its_first_call(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "OPENAI_API_KEY": "k", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(chunks=["Hi! ", "I can ", "search ", "the docs ", "and the COVID data."]),
                  Turn(chunks=["You're ", "welcome ", "any ", "time."]))
        answer = _chat_turn(server, "hey, what can you do?", "chat-real")
        thanks = _chat_turn(server, "@chat thanks!", "chat-real")
        first, chat = model.requests
    assert answer == "Hi! I can search the docs and the COVID data."
    assert thanks == "You're welcome any time."
    # One call answered the greeting: it offered every enabled specialist's tools.
    assert [t["function"]["name"] for t in first.body["tools"]] == [
        "search_documents", "sql_list_tables", "sql_describe_table", "sql_query"]
    assert "tool_choice" not in first.body
    system, user = first.body["messages"]
    assert "never cite" in system["content"]
    assert ("- @apisearch — not configured (enable with APISEARCH_OPENAPI_SPEC) — "
            in system["content"])
    assert user == {"role": "user", "content": "hey, what can you do?"}
    # @chat: the chat specialist's own call, no tools.
    assert "tools" not in chat.body and "tool_choice" not in chat.body
    system, *_, user = chat.body["messages"]
    assert system["role"] == "system" and "never cite" in system["content"]
    assert "- @docsearch — available — " in system["content"]
    assert user == {"role": "user", "content": "@chat thanks!"}
