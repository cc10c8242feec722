"""Every kind of bad input gets a 4xx that names the field, in our own words, never a 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from standins.processes import LiveServer

JSON = {"Content-Type": "application/json"}
# Words that would mean Python or pydantic internals leaked into an answer.
INTERNALS = ("sys.", "codec", "Error", "Exception", "Traceback", "pydantic", "Input should",
             "errors.pydantic.dev", "set_int_max_str_digits", "surrogates not allowed")

BAD_BODIES = [
    ({}, 422, "user_input: is required"),
    ({"user_input": ""}, 422, "user_input: must not be empty"),
    ({"user_input": "   \n"}, 422, "user_input: must not be empty"),
    ({"user_input": "\u3000\x1c\u2029"}, 422, "user_input: must not be empty"),
    ({"user_input": "x" * 8001}, 422, "user_input: is 8001 characters; the limit is 8000"),
    ({"user_input": 42}, 422, "user_input: must be a string"),
    ({"user_input": None}, 422, "user_input: must be a string"),
    ({"user_input": "hi", "thread_id": "a/b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a\\b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a?b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a#b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a\nb"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "x" * 129}, 422,
     "thread_id: must be at most 128 characters"),
    ({"user_input": "hi", "thread_id": "a\u0085b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": " padded "}, 422, "thread_id: must not start or end"),
    ({"user_input": "hi", "thread_id": 7}, 422, "thread_id: must be a string"),
    ([1, 2], 422, "must be a JSON object"),
]


def _post(server: LiveServer, path: str, data: bytes) -> requests.Response:
    return requests.post(f"{server.url}{path}", data=data, headers=JSON, timeout=10)


def _assert_plain(detail: str) -> None:
    for word in INTERNALS:
        assert word not in detail, f"{word!r} leaked into {detail!r}"


@pytest.mark.parametrize("path", ["/invoke", "/stream"])
@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
def test_bad_question_bodies(offline_server: LiveServer, path: str, body: object, status: int,
                             message: str) -> None:
    resp = requests.post(f"{offline_server.url}{path}", json=body, timeout=10)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/json"
    assert message in resp.json()["detail"]
    _assert_plain(resp.json()["detail"])


@pytest.mark.parametrize("path", ["/invoke", "/stream", "/batch"])
def test_malformed_json_is_400_with_where(offline_server: LiveServer, path: str) -> None:
    resp = _post(offline_server, path, b'{"user_input": "hi"')
    assert resp.status_code == 400
    assert resp.json()["detail"] == ("Request body is not valid JSON: Expecting ',' delimiter "
                                     "(line 1, column 20).")


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000, "not valid JSON: it is nested too deeply"),
    (b'{"user_input": ' + b"9" * 5000 + b"}", "a number has 5000 digits; numbers may have at "
                                              "most 100"),
    (b'{"user_input": -' + b"9" * 101 + b"}", "a number has 101 digits"),
    (b'{"user_input": 1.' + b"5" * 500_000 + b"}", "a number has 500001 digits"),
    (b'{"user_input": 1.5e' + b"9" * 120 + b"}", "a number has 122 digits"),
    (b'{"user_input": 1e999}', "the number 1e999 is out of range"),
    (b'{"user_input": -2.5E+400}', "the number -2.5E+400 is out of range"),
    (b'{"user_input": NaN}', "NaN is not a JSON value"),
    (b'{"user_input": -Infinity}', "-Infinity is not a JSON value"),
    (b'{"user_input": "hi"} x', "Extra data (line 1, column 22)"),
    (b"", "Expecting value (line 1, column 1)"),
    (b'{"user_input": "a\x01b"}', "Invalid control character at (line 1, column 18)"),
])
def test_json_errors_are_in_our_words(offline_server: LiveServer, body: bytes,
                                      message: str) -> None:
    resp = _post(offline_server, "/invoke", body)
    assert resp.status_code == 400
    assert message in resp.json()["detail"]
    _assert_plain(resp.json()["detail"])


def test_a_duplicate_key_is_refused_naming_it(offline_server: LiveServer) -> None:
    resp = _post(offline_server, "/invoke", b'{"user_input": "@docsearch a", "user_input": "b"}')
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "user_input", "message": (
        "appears more than once in the same object; send each key once")}]


LONE = "contains an unpaired UTF-16 surrogate escape such as \\ud800; send valid Unicode text"
RAW = "contains bytes that are not valid UTF-8; send valid Unicode text"


@pytest.mark.parametrize(("path", "body", "field", "message"), [
    ("/invoke", b'{"user_input": "hi \\ud800"}', "user_input", LONE),
    ("/stream", b'{"user_input": "hi \\udfff there"}', "user_input", LONE),
    ("/stream", b'{"user_input": "hi", "thread_id": "t\\ud83d"}', "thread_id", LONE),
    ("/batch", b'{"questions": ["ok", "\\ude80 low first"]}', "questions.1", LONE),
    ("/invoke", b'{"user_input": "hi", "extra": {"deep": ["\\ud800"]}}', "extra.deep.0", LONE),
    ("/invoke", b'{"user_input": "hi", "k\\ud800": 1}', "k\\ud800", "key " + LONE),
    # A surrogate encoded as UTF-8 bytes (CESU-style), and bytes that are not UTF-8 at all.
    ("/stream", b'{"user_input": "hi \xed\xa0\x80"}', "user_input", RAW),
    ("/invoke", b'{"user_input": "caf\xe9"}', "user_input", RAW),
    ("/batch", b'{"questions": ["\xff"], "thread_id": "x"}', "questions.0", RAW),
    ("/invoke", b'{"user_input": "ok", "thread_id": "\xc3"}', "thread_id", RAW),
])
def test_text_that_is_not_unicode_is_refused_naming_the_field(
        offline_server: LiveServer, path: str, body: bytes, field: str, message: str) -> None:
    resp = _post(offline_server, path, body)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["errors"] == [{"field": field, "message": message}]
    assert resp.json()["detail"] == f"{field}: {message}"


def test_a_refused_surrogate_question_stores_nothing(offline_server: LiveServer) -> None:
    log_before = offline_server.log()
    for path in ("/invoke", "/stream"):
        resp = _post(offline_server, path,
                     b'{"user_input": "@docsearch \\ud800?", "thread_id": "lone-1"}')
        assert resp.status_code == 422
    assert requests.get(f"{offline_server.url}/threads/lone-1", timeout=10).status_code == 404
    assert "Traceback" not in offline_server.log()[len(log_before):]


def test_invalid_bytes_outside_strings_are_400(offline_server: LiveServer) -> None:
    resp = _post(offline_server, "/invoke", b'{"user_input": "a",\xff "thread_id": ""}')
    assert resp.status_code == 400
    assert resp.json()["detail"] == ("Request body is not UTF-8 text (an invalid byte at offset "
                                     "19); send JSON encoded as UTF-8.")


def test_valid_unicode_is_accepted_pairs_bom_and_all(offline_server: LiveServer) -> None:
    # A surrogate *pair* is one character (U+1F680); a UTF-8 byte order mark is ignored.
    body = b'\xef\xbb\xbf{"user_input": "@docsearch Moon \\ud83d\\ude80 \xf0\x9f\x8c\x95?", ' \
           b'"thread_id": "pair-\\ud83d\\ude80"}'
    resp = _post(offline_server, "/invoke", body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["thread_id"] == "pair-\U0001f680"
    thread = requests.get(f"{offline_server.url}/threads/pair-\U0001f680", timeout=10).json()
    assert thread["messages"][0]["content"] == "@docsearch Moon \U0001f680 \U0001f315?"


def test_oversized_body_is_413(offline_server: LiveServer) -> None:
    resp = _post(offline_server, "/invoke", b'{"user_input": "' + b"x" * 900_000 + b'"}')
    assert resp.status_code == 413


@pytest.mark.parametrize("path", ["/invoke", "/stream", "/batch"])
def test_an_oversized_body_sent_without_a_length_is_413(offline_server: LiveServer,
                                                         path: str) -> None:
    """Chunked (no Content-Length): refused by what arrives (a body of about 900 KB, over the
    limit of about 800 KB; without the cap it would be read whole and refused as a question
    over MAX_INPUT_CHARS, 422)."""
    def chunks() -> Iterator[bytes]:
        yield b'{"user_input": "'
        for _ in range(14):
            yield b"x" * 65_536
        yield b'"}'

    resp = requests.post(f"{offline_server.url}{path}", data=chunks(), timeout=30,
                         headers={"Content-Type": "application/json"})
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in resp.request.headers
    assert resp.status_code == 413, resp.text
    assert resp.json()["detail"].startswith("Request body is over ")


@pytest.mark.parametrize(("body", "message"), [
    ({"questions": []}, "questions: must have at least 1 item"),
    ({"questions": ["ok"] * 26}, "questions: has 26 questions; the limit is 25"),
    ({"questions": ["ok", ""]}, "questions: item 1 must not be empty"),
    ({"questions": "what?"}, "questions: must be a list of strings"),
    ({"questions": ["ok", 3]}, "questions.1: must be a string"),
    ({"questions": ["ok"], "thread_id": "../etc"}, "thread_id: must not contain"),
])
def test_bad_batches(offline_server: LiveServer, body: object, message: str) -> None:
    resp = requests.post(f"{offline_server.url}/batch", json=body, timeout=10)
    assert resp.status_code == 422
    assert message in resp.json()["detail"]
    assert resp.json()["errors"][0]["field"].split(".")[0] in {"questions", "thread_id"}
    _assert_plain(resp.json()["detail"])


def test_bad_thread_ids_in_paths(offline_server: LiveServer) -> None:
    long_id = "x" * 129
    assert requests.get(f"{offline_server.url}/threads/{long_id}", timeout=10).status_code == 422
    assert requests.delete(f"{offline_server.url}/threads/a%3Fb", timeout=10).status_code == 422
    for escaped in ("%ED%A0%80", "caf%E9", "%FF"):  # not UTF-8 once percent-decoded
        resp = requests.get(f"{offline_server.url}/threads/{escaped}", timeout=10)
        assert resp.status_code == 422
        assert resp.json()["errors"] == [{"field": "thread_id", "message": "is not valid UTF-8"}]
    resp = requests.get(f"{offline_server.url}/threads/caf%C3%A9", timeout=10)
    assert resp.status_code == 404  # valid UTF-8: a well-formed id that has no thread


def _disconnect_mid_body(server: LiveServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b'{"questions": ["a very long')


def test_a_client_gone_mid_upload_is_logged_once_without_a_traceback(
        offline_server: LiveServer) -> None:
    line = "POST /batch: the client went away while sending the body"
    before = offline_server.log()
    for _ in range(3):
        _disconnect_mid_body(offline_server)
    deadline = time.monotonic() + 10
    while offline_server.log()[len(before):].count(line) < 3:
        assert time.monotonic() < deadline, offline_server.log()[len(before):]
        time.sleep(0.02)  # polling the log file for the server's lines
    # One more request answered means every earlier one has been handled.
    assert requests.get(f"{offline_server.url}/health", timeout=10).ok
    new = offline_server.log()[len(before):]
    assert new.count(line) == 3
    assert "INFO api.bodies: " + line in new
    assert "Traceback" not in new and "ERROR" not in new and "ClientDisconnect" not in new
