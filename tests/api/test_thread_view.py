"""`GET /threads/{id}` shows the conversation: questions and final answers with the specialist
that answered; `?include=tools` adds the tool calls and results. Real dev server, offline model."""

from __future__ import annotations

import requests

from standins.processes import LiveServer


def ask(url: str, question: str, thread_id: str) -> str:
    resp = requests.post(f"{url}/invoke", json={"user_input": question, "thread_id": thread_id},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["final_answer"])


def test_the_thread_shows_questions_and_answers_only(offline_server: LiveServer) -> None:
    url = offline_server.url
    first = ask(url, "@docsearch what raises the tides?", "view-1")
    second = ask(url, "@docsearch how far is the Moon?", "view-1")

    body = requests.get(f"{url}/threads/view-1", timeout=30).json()

    assert body == {"thread_id": "view-1", "messages": [
        {"role": "user", "content": "@docsearch what raises the tides?", "agent": None},
        {"role": "assistant", "content": first, "agent": "docsearch"},
        {"role": "user", "content": "@docsearch how far is the Moon?", "agent": None},
        {"role": "assistant", "content": second, "agent": "docsearch"},
    ], "pending": None}


def test_include_tools_adds_the_calls_and_results(offline_server: LiveServer) -> None:
    url = offline_server.url
    answer = ask(url, "@docsearch what raises the tides?", "view-2")

    messages = requests.get(f"{url}/threads/view-2?include=tools", timeout=30).json()["messages"]

    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    question, calling, result, final = messages
    assert question == {"role": "user", "content": "@docsearch what raises the tides?",
                        "agent": None}
    [call] = calling["tool_calls"]
    assert calling["agent"] == "docsearch" and call["name"] == "search_documents"
    assert call["args"] and call["id"]
    assert result["tool_call_id"] == call["id"] and result["tool"] == "search_documents"
    assert result["agent"] == "docsearch" and "tides" in result["content"].lower()
    assert final == {"role": "assistant", "content": answer, "agent": "docsearch"}


def test_an_unknown_include_is_refused(offline_server: LiveServer) -> None:
    resp = requests.get(f"{offline_server.url}/threads/view-3?include=everything", timeout=30)

    assert resp.status_code == 422
    assert resp.json()["detail"] == "include: must be 'tools' (add the tool calls and results)"
