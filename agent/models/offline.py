"""The offline chat model: a LangChain `BaseChatModel` that needs no weights and no network.

It makes real tool calls through the same graph as a real model and streams its answers token
by token; what it says is decided by `agent.models.offline_policy` (and its parts).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.models.offline_policy import respond

_TOKEN = re.compile(r"\s*\S+|\s+")


def tokens(text: str) -> list[str]:
    """Split text into word-sized tokens that concatenate back to it exactly."""
    return _TOKEN.findall(text)


class OfflineChatModel(BaseChatModel):
    """A deterministic local model: routes by keywords, calls tools, answers extractively."""

    @property
    def _llm_type(self) -> str:
        return "offline"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI format, as real chat models do."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output through a forced tool call; `method` and request options (a
        reasoning effort) are accepted and ignored."""
        kwargs.pop("method", None)
        kwargs.pop("strict", None)
        kwargs.pop("reasoning_effort", None)
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        tool_choice = kwargs.get("tool_choice")
        # `tool_choice: "none"`: the tools are declared but may not be called.
        tools = None if tool_choice == "none" else kwargs.get("tools")
        return respond(messages, tools, tool_choice)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, **kwargs)):
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, **kwargs)):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            await asyncio.sleep(0)  # let other streams (and cancellation) in between tokens

    @staticmethod
    def _chunks(message: AIMessage) -> list[ChatGenerationChunk]:
        if message.tool_calls:
            calls = [
                tool_call_chunk(name=c["name"], args=_json(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(message.tool_calls)
            ]
            chunk = AIMessageChunk(content="", tool_call_chunks=calls, chunk_position="last")
            return [ChatGenerationChunk(message=chunk)]
        parts = tokens(message.text) or [""]
        out = [ChatGenerationChunk(message=AIMessageChunk(content=p)) for p in parts]
        out[-1].message.chunk_position = "last"  # type: ignore[attr-defined]
        return out


def _json(args: dict[str, Any]) -> str:
    import json

    return json.dumps(args, ensure_ascii=False)
