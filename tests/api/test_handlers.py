"""`/invoke`, `/batch`, `/threads` and `/health` over a real uvicorn server."""

from __future__ import annotations

import threading
from pathlib import Path

import requests

from standins.model_service import Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sse import by_type, stream


def test_invoke_answers_from_the_index_with_a_citation(offline_server: LiveServer) -> None:
    resp = requests.post(f"{offline_server.url}/invoke", timeout=30,
                         json={"user_input": "@docsearch how far is the Moon?", "thread_id": ""})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"final_answer", "thread_id", "run_id", "agent", "usage"}
    # The offline model reports no token usage.
    assert body["usage"] == {"input_tokens": 0, "output_tokens": 0, "reasoning_tokens": 0,
                             "total_tokens": 0, "cached_input_tokens": 0}
    assert "384,400 kilometres" in body["final_answer"]
    assert "[[1]](corpus/moon.md#the-moon)" in body["final_answer"]
    assert body["agent"] == "docsearch"
    assert body["thread_id"] and body["run_id"] and body["thread_id"] != body["run_id"]


def test_thread_memory_across_turns_and_a_restart(tmp_path: Path) -> None:
    env = {"DOCS_DIR": str(CORPUS), "MODEL_PROVIDER": "offline"}
    with live_server(tmp_path, env) as server:
        for question in ("@docsearch what raises the tides?", "@docsearch and Joey?"):
            resp = requests.post(f"{server.url}/invoke", timeout=30,
                                 json={"user_input": question, "thread_id": "mem-1"})
            assert resp.status_code == 200
    with live_server(tmp_path, env) as server:  # same data folder, new process
        thread = requests.get(f"{server.url}/threads/mem-1", timeout=30).json()
        said = [(m["role"], m["content"]) for m in thread["messages"]
                if m["role"] == "user" or (m["role"] == "assistant" and m["content"])]
        assert [role for role, _ in said] == ["user", "assistant", "user", "assistant"]
        assert "tides" in said[1][1] and "Chandler" in said[3][1]
        assert all(m["agent"] == "docsearch" for m in thread["messages"]
                   if m["role"] == "assistant")
        resp = requests.post(f"{server.url}/invoke", timeout=30,
                             json={"user_input": "@docsearch Moon distance?", "thread_id": "mem-1"})
        assert resp.status_code == 200
        messages = requests.get(f"{server.url}/threads/mem-1", timeout=30).json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 3


def test_a_follow_up_question_reaches_the_model_with_the_earlier_turn(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "moon"}}]),
                  Turn(chunks=["The Moon is 384,400 km away."]),
                  Turn(chunks=["That is about 30 Earths."]))
        for question in ("@docsearch how far is the Moon?", "@docsearch how many Earths is that?"):
            assert requests.post(f"{server.url}/invoke", timeout=30, json={
                "user_input": question, "thread_id": "follow-1"}).status_code == 200
        sent = model.requests[-1].body["messages"]
    contents = [m.get("content") for m in sent]
    assert "@docsearch how far is the Moon?" in contents
    assert "The Moon is 384,400 km away." in contents
    assert contents[-1] == "@docsearch how many Earths is that?"
    assert not any(m["role"] == "tool" for m in sent), "old tool traffic stays out of the prompt"


def test_batch_keeps_order_and_runs_questions_concurrently_bounded(tmp_path: Path) -> None:
    # Streamed model replies are slow to start, so overlapping questions overlap at the model.
    with fake_openai(first_delay=0.3) as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "BATCH_CONCURRENCY": "2", "DOCS_DIR": str(CORPUS)}) as server:
        questions = [f"@docsearch question {i}" for i in range(5)]
        resp = requests.post(f"{server.url}/batch", json={"questions": questions}, timeout=60)
        body = resp.json()
        user_questions = [next(m["content"] for m in r.body["messages"] if m["role"] == "user")
                          for r in model.requests]
    assert resp.status_code == 200
    assert [r["status"] for r in body["results"]] == ["ok"] * 5
    assert body["answers"] == [r["answer"] for r in body["results"]]
    assert body["answers"] == ["Answer:" + "".join(f" word{i}" for i in range(20))] * 5
    assert len({r["thread_id"] for r in body["results"]}) == 5 and body["thread_id"] == ""
    assert sorted(user_questions) == sorted(questions * 2)
    assert model.max_in_flight == 2, "questions run concurrently, at most BATCH_CONCURRENCY"


def test_batch_on_one_thread_runs_in_order_as_a_conversation(offline_server: LiveServer) -> None:
    questions = ["@docsearch the Moon?", "@docsearch tides?", "@docsearch Joey?"]
    body = requests.post(f"{offline_server.url}/batch", timeout=60,
                         json={"questions": questions, "thread_id": "batch-conv"}).json()
    assert {r["thread_id"] for r in body["results"]} == {"batch-conv"}
    assert "Moon" in body["answers"][0] and "tides" in body["answers"][1]
    assert "Chandler" in body["answers"][2]
    thread = requests.get(f"{offline_server.url}/threads/batch-conv", timeout=30).json()
    asked = [m["content"] for m in thread["messages"] if m["role"] == "user"]
    assert asked == questions


def test_one_failing_batch_question_does_not_fail_the_batch(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "a"}}]),
                  Turn(chunks=["first answer"]), Turn(status=500))
        body = requests.post(f"{server.url}/batch", timeout=60, json={
            "questions": ["@docsearch one", "@docsearch two"], "thread_id": "b-fail"}).json()
    assert [r["status"] for r in body["results"]] == ["ok", "error"]
    assert body["answers"][0] == "first answer"
    assert body["answers"][1].startswith("Failed:")
    assert body["results"][1]["error"] and "Traceback" not in body["results"][1]["error"]


def test_delete_thread_removes_it(offline_server: LiveServer) -> None:
    url = offline_server.url
    requests.post(f"{url}/invoke", json={"user_input": "@docsearch tides", "thread_id": "del-1"},
                  timeout=30)
    assert requests.get(f"{url}/threads/del-1", timeout=30).status_code == 200
    assert requests.delete(f"{url}/threads/del-1", timeout=30).status_code == 204
    missing = requests.get(f"{url}/threads/del-1", timeout=30)
    assert missing.status_code == 404 and "del-1" in missing.json()["detail"]
    _, events = stream(f"{url}/stream", {"user_input": "@docsearch tides", "thread_id": "del-1"})
    assert by_type(events, "end"), "a deleted thread id can start afresh"


def test_turns_on_one_thread_do_not_interleave(tmp_path: Path) -> None:
    # THREAD_BUSY=wait: the second turn waits for the first (the default refuses it, 409).
    with fake_openai(first_delay=0.3) as (_, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "DOCS_DIR": str(CORPUS), "THREAD_BUSY": "wait"}) as server:
        def ask(text: str) -> None:
            resp = requests.post(f"{server.url}/invoke", timeout=60,
                                 json={"user_input": text, "thread_id": "lock-1"})
            assert resp.status_code == 200, resp.text
        workers = [threading.Thread(target=ask, args=(f"@docsearch q{i}",)) for i in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        messages = requests.get(f"{server.url}/threads/lock-1?include=tools",
                                timeout=30).json()["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant", "tool", "assistant"] * 2


def test_health_is_anonymous_and_builds_nothing(offline_server: LiveServer) -> None:
    body = requests.get(f"{offline_server.url}/health", timeout=10).json()
    assert body["status"] == "ok" and body["model_provider"] == "offline"
    assert body["thread_store"] == "sqlite"
