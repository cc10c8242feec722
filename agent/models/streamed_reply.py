"""A specialist's model reply, its text sent on as it arrives.

`streamed_reply` runs the model with `astream` and hands each chunk of text on at once, then
returns the whole reply, merged from its chunks as langchain-core merges a streamed reply
(`AIMessageChunk` addition: text, tool calls, usage and response metadata such as
`finish_reason`). No LangChain callback handler runs per token or per step.

Where the text goes: to the run's token sink, a callable the caller put in the run's config
(`configurable["token_sink"]`; `/stream` passes one that queues the SSE event directly), or
else to LangGraph's custom stream as a `Token` (`get_stream_writer()`, LangGraph's way to
stream LLM tokens from a node). Outside a streaming run (`ainvoke`) that writer does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langgraph.config import get_config, get_stream_writer

from agent.events import Token
from agent.models.failures import MalformedReply

SINK_KEY = "token_sink"  # run config key: a callable that takes each chunk of text

TokenSink = Callable[[str], None]


def _sink() -> TokenSink:
    """This run's token sink, or LangGraph's custom stream."""
    sink = get_config().get("configurable", {}).get(SINK_KEY)
    if callable(sink):
        return cast(TokenSink, sink)
    write = get_stream_writer()
    return lambda text: write(Token(text))


async def streamed_reply(model: Any, messages: Sequence[BaseMessage]) -> AIMessage:
    """The model's reply to `messages`; each chunk of its text is sent on at once."""
    sink = _sink()
    chunks: list[AIMessageChunk] = []
    async for chunk in model.astream(messages):
        text = chunk.text
        if text:
            sink(text)
        chunks.append(chunk)
    if not chunks:
        raise MalformedReply("no chunk came back")
    merged = chunks[0] + chunks[1:] if len(chunks) > 1 else chunks[0]
    reply = message_chunk_to_message(merged)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"the model replied with a {type(reply).__name__}, not an AIMessage")
    return reply
