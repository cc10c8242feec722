"""Streamed chat completions without building an SDK object per chunk.

`ChatOpenAI` / `AzureChatOpenAI` stream through the OpenAI SDK's `AsyncStream`, which builds a
pydantic `ChatCompletionChunk` for every SSE chunk; langchain-openai then turns it straight
back into a dict (`model_dump`) for `_convert_chunk_to_generation_chunk`, which is what it
reads. That round trip is most of the CPU a streamed token costs. `FastStreamMixin` keeps every
part of the request path (the payload, the SDK's retries for 429/5xx/connection errors and
`Retry-After`, the key or keyless token provider, the SDK's exceptions for error statuses) and
changes only how the body is read: the SDK's raw streaming response
(`with_streaming_response`), each SSE event's data parsed with `orjson`, the dict handed to
langchain-openai's own `_convert_chunk_to_generation_chunk`. So tool-call deltas, usage
(reasoning tokens included), Azure's `prompt_filter_results` chunk and
`finish_reason: content_filter` come out exactly as on the SDK path.

Failures mid-stream are raised as the SDK raises them (`APITimeoutError`,
`APIConnectionError`, `APIError` for an `error` event), then mapped by langchain-openai as on
its own path. Structured output with `response_format`, the Responses API and gateway
routing are left to the library's path.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import orjson
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import AzureChatOpenAI, ChatOpenAI, StreamChunkTimeoutError
from langchain_openai.chat_models.base import _handle_openai_api_error, _handle_openai_bad_request

from agent.models.failures import MalformedReply

DONE = b"[DONE]"


class FastStreamMixin:
    """`_astream` for Chat Completions that parses the raw SSE body (see the module doc)."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        model: Any = self
        if (model._use_responses_api({**kwargs, **model.model_kwargs})
                or "response_format" in kwargs or model._uses_gateway):
            async for chunk in super()._astream(  # type: ignore[misc]
                    messages, stop, run_manager, stream_usage=stream_usage, **kwargs):
                yield chunk
            return
        kwargs["stream"] = True
        if model._should_stream_usage(stream_usage, **kwargs):
            kwargs["stream_options"] = {"include_usage": True}
        payload = model._get_request_payload(messages, stop=stop, **kwargs)
        default_class: type[BaseMessageChunk] = AIMessageChunk
        try:
            async with model.async_client.with_streaming_response.create(
                    **_as_sent(payload)) as response:
                info = ({"headers": dict(response.headers)} if model.include_response_headers
                        else {})
                first = True
                async for data in _sse_data(response, model.stream_chunk_timeout,
                                            model.model_name):
                    try:
                        generation = model._convert_chunk_to_generation_chunk(
                            data, default_class, info if first else {})
                    except (AttributeError, KeyError, TypeError, ValueError) as exc:
                        raise MalformedReply("a chunk is not a chat-completions chunk") from exc
                    if generation is None:
                        continue
                    default_class = generation.message.__class__
                    if run_manager:
                        await run_manager.on_llm_new_token(
                            generation.text, chunk=generation,
                            logprobs=(generation.generation_info or {}).get("logprobs"))
                    first = False
                    yield generation
                if first:  # a 200 whose body held no chat-completions chunk at all
                    raise MalformedReply("no chunk came back")
        except openai.BadRequestError as exc:
            _handle_openai_bad_request(exc)
        except openai.APIError as exc:
            _handle_openai_api_error(exc)


def _as_sent(payload: dict[str, Any]) -> dict[str, Any]:
    """`create()` arguments that send langchain-openai's payload as it is: the JSON body rides
    in `extra_body` (which the SDK sends as given), so the SDK does not walk the messages and
    tools again against its typed-dict schemas (its `transform`, about 1 ms of CPU per call
    here, that changes nothing in this JSON-ready payload). The SDK's own arguments (`model`,
    `stream`, `timeout`, `extra_*`) stay arguments."""
    body = dict(payload)
    sdk = {key: body.pop(key) for key in _SDK_ARGUMENTS if key in body}
    body.update(sdk.pop("extra_body", None) or {})
    return {**sdk, "model": body.pop("model"), "messages": (), "stream": True,
            "extra_body": body}


_SDK_ARGUMENTS = ("extra_headers", "extra_query", "extra_body", "timeout")


class SSEData:
    """Server-Sent Events parsing for a chat-completions stream: fed the body's bytes as they
    arrive, it returns the `data` of each complete event (its `data:` lines joined by `\n`).
    Lines end with `\n` or `\r\n` (what OpenAI and Azure OpenAI send); `event:`, `id:`,
    `retry:` and comment lines carry nothing a chat-completions client reads."""

    def __init__(self) -> None:
        self._rest = b""
        self._data: list[bytes] = []

    def feed(self, block: bytes) -> list[bytes]:
        """The data of every event that `block` completes."""
        lines = (self._rest + block).split(b"\n") if self._rest else block.split(b"\n")
        self._rest = lines.pop()
        events: list[bytes] = []
        data = self._data
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif data:
                events.append(data[0] if len(data) == 1 else b"\n".join(data))
                data.clear()
        return events

    def close(self) -> list[bytes]:
        """The data of an event the body ended without its blank line."""
        events = self.feed(b"\n\n") if self._rest or self._data else []
        return events


async def _sse_data(response: Any, chunk_timeout: float | None,
                    model_name: str | None) -> AsyncIterator[dict[str, Any]]:
    """Each SSE event's data as a dict, until `[DONE]` (the rest of the body is read so the
    connection can be reused). Transport failures become the SDK's exceptions. A connection
    that stays open but brings no event for `chunk_timeout` seconds (keep-alive comments only)
    raises langchain-openai's `StreamChunkTimeoutError`; a silent one is ended by the HTTP read
    timeout (`MODEL_TIMEOUT_SECONDS`)."""
    http = response.http_response
    parser = SSEData()
    loop = asyncio.get_running_loop()
    last = loop.time()
    received = 0
    try:
        async for block in http.aiter_bytes():
            events = parser.feed(block)
            if events:
                for chunk in _chunks(events, http.request):
                    received += 1
                    yield chunk
                last = loop.time()
            elif chunk_timeout and chunk_timeout > 0 and loop.time() - last > chunk_timeout:
                raise StreamChunkTimeoutError(chunk_timeout, model_name=model_name,
                                              chunks_received=received)
        for chunk in _chunks(parser.close(), http.request):
            yield chunk
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=http.request) from exc
    except httpx2.RequestError as exc:
        raise openai.APIConnectionError(request=http.request) from exc


def _chunks(events: list[bytes], request: Any) -> Iterator[dict[str, Any]]:
    """The chunks among these events' data (`[DONE]` is not one), one by one, so the chunks
    before a bad one are still handed on; an `error` event raises."""
    for data in events:
        if data.startswith(DONE):
            continue
        chunk = _loads(data)
        if not isinstance(chunk, dict):
            raise MalformedReply("an event's data is not a JSON object")
        if chunk.get("error"):
            raise _stream_error(chunk["error"], request)
        yield chunk


def _loads(data: bytes) -> Any:
    """JSON with orjson; what orjson refuses and the standard library reads (a lone surrogate
    escape such as `\\ud800`) is read as the SDK reads it, with `json`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except ValueError:
        raise MalformedReply("an event's data is not JSON") from None


def _stream_error(error: Any, request: Any) -> openai.APIError:
    """An `error` event in the stream, raised as the SDK raises it."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=request, body=error)


class FastChatOpenAI(FastStreamMixin, ChatOpenAI):
    """`ChatOpenAI` (OpenAI, OpenAI-compatible servers, the Azure OpenAI v1 API) with the fast
    streaming read."""


class FastAzureChatOpenAI(FastStreamMixin, AzureChatOpenAI):
    """`AzureChatOpenAI` (the classic Azure OpenAI path) with the fast streaming read."""
