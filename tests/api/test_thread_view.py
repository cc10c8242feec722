"""`GET /threads/{id}` shows the conversation: questions and final answers with the specialist
that answered; `?include=tools` adds the tool calls and results. Real dev server, offline model."""

from __future__ import annotations

import requests

from standins.processes import LiveServer


def ask(url: str, question: str, thread_id: str) -> tuple[str, str]:
    """The answer and its run id."""
    resp = requests.post(f"{url}/invoke", json={"user_input": question, "thread_id": thread_id},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["final_answer"]), str(resp.json()["run_id"])


def test_the_thread_shows_questions_and_answers_only(offline_server: LiveServer) -> None:
    url = offline_server.url
    first, run_1 = ask(url, "@docsearch what raises the tides?", "view-1")
    second, run_2 = ask(url, "@docsearch how far is the Moon?", "view-1")

    body = requests.get(f"{url}/threads/view-1", timeout=30).json()

    created, updated = body.pop("created_at"), body.pop("updated_at")
    assert created <= updated and updated.endswith("Z")
    assert body == {"thread_id": "view-1", "title": "What raises the tides?",
                    "active_run": None,
                    "messages": [
        {"role": "user", "content": "@docsearch what raises the tides?", "agent": None,
         "run_id": run_1, "feedback": None},
        {"role": "assistant", "content": first, "agent": "docsearch", "run_id": run_1,
         "feedback": None},
        {"role": "user", "content": "@docsearch how far is the Moon?", "agent": None,
         "run_id": run_2, "feedback": None},
        {"role": "assistant", "content": second, "agent": "docsearch", "run_id": run_2,
         "feedback": None},
    ], "pending": None}


def test_include_tools_adds_the_calls_and_results(offline_server: LiveServer) -> None:
    url = offline_server.url
    answer, run_id = ask(url, "@docsearch what raises the tides?", "view-2")

    messages = requests.get(f"{url}/threads/view-2?include=tools", timeout=30).json()["messages"]

    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    question, calling, result, final = messages
    assert question == {"role": "user", "content": "@docsearch what raises the tides?",
                        "agent": None, "run_id": run_id, "feedback": None}
    [call] = calling["tool_calls"]
    assert calling["agent"] == "docsearch" and call["name"] == "search_documents"
    assert call["args"] and call["id"]
    assert result["tool_call_id"] == call["id"] and result["tool"] == "search_documents"
    assert result["agent"] == "docsearch" and "tides" in result["content"].lower()
    assert final == {"role": "assistant", "content": answer, "agent": "docsearch",
                     "run_id": run_id, "feedback": None}
    assert {m["run_id"] for m in messages} == {run_id}


def test_an_unknown_include_is_refused(offline_server: LiveServer) -> None:
    resp = requests.get(f"{offline_server.url}/threads/view-3?include=everything", timeout=30)

    assert resp.status_code == 422
    assert resp.json()["detail"] == "include: must be 'tools' (add the tool calls and results)"
