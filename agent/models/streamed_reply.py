"""A specialist's model reply, its text sent to the graph's stream as it arrives.

`streamed_reply` runs the model with `astream` and hands each chunk of text to LangGraph's
custom stream (`get_stream_writer()`, LangGraph's way to stream LLM tokens from a node) as a
`Token`, then returns the whole reply, merged from its chunks as langchain-core merges a
streamed reply (`AIMessageChunk` addition: text, tool calls, usage and response metadata such
as `finish_reason`). Tokens therefore need no LangChain callback handler: the bot streams with
`stream_mode=["custom", "updates"]`, and no handler runs per token or per step.

Outside a streaming run (`ainvoke`) the writer does nothing and only the reply is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langgraph.config import get_stream_writer

from agent.events import Token


async def streamed_reply(model: Any, messages: Sequence[BaseMessage]) -> AIMessage:
    """The model's reply to `messages`; each chunk of its text goes to the stream at once."""
    write = get_stream_writer()
    chunks: list[AIMessageChunk] = []
    async for chunk in model.astream(messages):
        text = chunk.text
        if text:
            write(Token(text))
        chunks.append(chunk)
    if not chunks:
        raise ValueError("the model returned no reply")
    merged = chunks[0] + chunks[1:] if len(chunks) > 1 else chunks[0]
    reply = message_chunk_to_message(merged)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"the model replied with a {type(reply).__name__}, not an AIMessage")
    return reply
