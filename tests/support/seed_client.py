"""The seed notebook's client functions, verbatim (`../shared/seed/fastapi-backend-notebook.md`),
so tests prove that client works unchanged. Only `BASE_URL` is set by the test."""
# ruff: noqa
import requests
import json
import random
import uuid
from sseclient import SSEClient

BASE_URL = "http://localhost:8000"  # or wherever your FastAPI app runs


def call_invoke(question: str, thread_id: str = ""):
    """
    Test the /invoke endpoint by sending a single question in JSON.
    Expects a JSON response with { "final_answer": ... }.
    """
    url = f"{BASE_URL}/invoke"
    payload = {
        "user_input": question,
        "thread_id": thread_id or str(uuid.uuid4())
    }

    print(f"\n--- Calling /invoke with question: {question}")
    try:
        response = requests.post(url, json=payload)
        response.raise_for_status()
        data = response.json()
        print(f"[/invoke response] final_answer: {data.get('final_answer')}")
    except requests.HTTPError as err:
        print(f"[/invoke] HTTP Error: {err}")
    except Exception as e:
        print(f"[/invoke] An error occurred: {e}")
        


def call_batch(questions: list[str], thread_id: str = ""):
    """
    Test the /batch endpoint by sending multiple questions in a single request.
    The endpoint returns { "answers": [...] }.
    """
    url = f"{BASE_URL}/batch"
    payload = {
        "questions": questions,
        "thread_id": thread_id or str(uuid.uuid4())
    }

    print(f"\n--- Calling /batch with questions: {questions}")
    try:
        resp = requests.post(url, json=payload)
        resp.raise_for_status()
        data = resp.json()
        answers = data.get("answers", [])
        for i, ans in enumerate(answers):
            print(f"Q: {questions[i]}")
            print(f"A: {ans}")
            print("-----")
    except requests.HTTPError as err:
        print(f"[/batch] HTTP Error: {err}")
    except Exception as e:
        print(f"[/batch] An error occurred: {e}")


def process_partial_text(text: str):
    """
    Example of how to handle partial text from SSE.
    In real usage, you'd update your UI, buffer it, etc.
    """
    print(text, end="", flush=True)


def call_stream(question: str, thread_id: str = ""):
    """
    Demonstrates how to call your FastAPI /stream endpoint with sseclient-py in sync mode.
    """
    url = f"{BASE_URL}/stream"
    payload = {
        "user_input": question,
        "thread_id": thread_id
    }

    with requests.post(url, json=payload, stream=True) as resp:
        resp.raise_for_status()
        client = SSEClient(resp)
        for event in client.events():
            evt_type = event.event
            evt_data = event.data

            if evt_type == 'metadata':
                info = json.loads(evt_data)
                print(f"\n[Metadata] run_id={info.get('run_id', '')}")

            elif evt_type == 'data':
                # The server is sending partial chunk(s) as a "data" event
                # so we treat it as partial text to display:
                process_partial_text(evt_data)

            elif evt_type == 'on_tool_start':
                print(f"\n[Tool Start] {evt_data}")

            elif evt_type == 'on_tool_end':
                print(f"\n[Tool End] {evt_data}")

            elif evt_type == 'end':
                # This signals no more data will follow.
                print(f"\n[Done Streaming] Final text: {evt_data}")

            elif evt_type == 'error':
                # The server encountered an exception or error
                print(f"\n[SSE Error] {evt_data}")

            else:
                # Some unexpected event name
                print(f"\n[Unrecognized event={evt_type}] {evt_data}")
