"""Units of the failure classifier: retry hints, the content-filter check, what is not a model
failure. (Each kind over the wire: tests/api/test_model_failures.py.)"""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import openai
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from langchain_core.messages import AIMessage

from agent.models.failures import (
    DEFAULT_RETRY_AFTER_SECONDS,
    ContentFilteredError,
    FailureKind,
    classify,
    raise_if_filtered,
    retry_after_seconds,
)
from agent.settings import Settings


class _Response:
    def __init__(self, **headers: str) -> None:
        self.headers = headers


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),
    ({"retry-after": "7"}, 7.0),
    ({"retry-after-ms": "10"}, 1.0),  # never less than a second
    ({"retry-after": "soon"}, DEFAULT_RETRY_AFTER_SECONDS),
    ({}, DEFAULT_RETRY_AFTER_SECONDS),
])
def test_retry_after_comes_from_the_service_headers(headers: dict[str, str],
                                                    seconds: float) -> None:
    assert retry_after_seconds(_Response(**headers)) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds(_Response(**{"retry-after": when})) <= 31


def test_a_reply_cut_by_the_content_filter_raises() -> None:
    raise_if_filtered(AIMessage("fine", response_metadata={"finish_reason": "stop"}))
    with pytest.raises(ContentFilteredError):
        raise_if_filtered(AIMessage("half", response_metadata={"finish_reason":
                                                               "content_filter"}))


def test_transport_errors_and_timeouts_are_model_failures() -> None:
    settings = Settings(model_provider="openai", openai_base_url="http://x")
    cut = classify(httpx.RemoteProtocolError("peer closed connection"), settings)
    slow = classify(httpx.ReadTimeout("read timed out"), settings)
    assert cut is not None and cut.kind is FailureKind.UNREACHABLE
    assert "OPENAI_BASE_URL" in cut.message
    assert slow is not None and slow.kind is FailureKind.TIMEOUT
    assert classify(ValueError("a bug of ours"), settings) is None


@pytest.mark.parametrize("error", [
    CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"),
    ClientAuthenticationError("AADSTS700016: Application not found"),
])
def test_no_entra_id_token_is_an_auth_failure_naming_what_to_check(error: Exception) -> None:
    failure = classify(error, Settings())  # azure-identity's own error classes
    assert failure is not None and failure.kind is FailureKind.AUTH  # 502 (api.problems)
    assert "Entra ID token" in failure.message and "AZURE_CLIENT_ID" in failure.message
    assert "AADSTS" not in failure.message and "DefaultAzureCredential" not in failure.message


async def test_a_connection_closed_before_the_answer_is_cut_not_a_timeout() -> None:
    """A real server that reads the request and closes the socket (as a server closing an
    idle keep-alive connection does), read through the SDK's aiohttp client: the adapter
    reports a connect timeout, the cause says what happened."""
    async def close_after_reading(reader: asyncio.StreamReader,
                                  writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(close_after_reading, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = openai.AsyncOpenAI(api_key="k", base_url=f"http://127.0.0.1:{port}/v1",
                                max_retries=0, http_client=openai.DefaultAioHttpClient())
    try:
        with pytest.raises(openai.APITimeoutError) as raised:
            await client.chat.completions.create(model="m", messages=[
                {"role": "user", "content": "hi"}])
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    failure = classify(raised.value, Settings(model_provider="openai",
                                              openai_base_url=f"http://127.0.0.1:{port}/v1"))
    assert failure is not None and failure.kind is FailureKind.UNREACHABLE
    assert "the connection was cut" in failure.message
