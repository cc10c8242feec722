"""Builds the chat model the settings ask for: Azure OpenAI, any OpenAI-compatible server, or
the offline model.

Azure OpenAI is reached through the v1 API (`{endpoint}/openai/v1/`, no `api-version`) by
default, or through the classic `/openai/deployments/{name}?api-version=` path when
`AZURE_OPENAI_API_VERSION` is a dated version. It is keyless by default: `azure-identity`
supplies a bearer-token provider that fetches and refreshes Entra ID tokens (managed identity
in Azure, your `az login` locally). An API key is used only when `AZURE_OPENAI_API_KEY` is set.

Only the options that are set are sent: reasoning deployments (gpt-5 family, o-series) refuse
a `temperature` other than 1, `max_tokens` and `parallel_tool_calls`; classic ones refuse
`reasoning_effort`. Calls that only decide or write tool arguments may take another reasoning
effort than answers (`decision_options`; the graph binds it to those calls).

Both providers read streamed replies the fast way (`agent.models.fast_stream`: the raw SSE
body instead of an SDK object per chunk) over the OpenAI SDK's aiohttp client, which the bot
closes with the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from agent.settings import Settings

if TYPE_CHECKING:
    from langchain_openai import AzureChatOpenAI, ChatOpenAI

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
V1 = "v1"

Closer = Callable[[], Awaitable[None]]


def build_chat_model(settings: Settings, closers: list[Closer] | None = None, *,
                     fast_stream: bool = True) -> BaseChatModel:
    """The chat model for `settings.provider`, with streaming on. What must be closed with it
    (the async credential of keyless Azure OpenAI) is appended to `closers`.

    Azure and OpenAI models read streamed replies through `agent.models.fast_stream`;
    `fast_stream=False` gives langchain-openai's own classes (the bench's seed-design baseline
    uses them)."""
    provider = settings.provider
    if provider == "azure":
        return _azure(settings, closers, fast_stream)
    if provider == "openai":
        return _openai(settings, closers, fast_stream)
    from agent.models.offline import OfflineChatModel

    return OfflineChatModel()


def call_options(settings: Settings) -> dict[str, Any]:
    """Request options common to every provider; optional ones only when set."""
    options: dict[str, Any] = {
        "timeout": settings.model_timeout_seconds,
        "max_retries": settings.model_max_retries,
        "streaming": True,
        "stream_usage": True,
        # Chat Completions, whatever the deployment's name suggests to langchain-openai.
        "use_responses_api": False,
        # Reasoning deployments refuse `parallel_tool_calls`, which langchain-openai would
        # send with structured output; the default (parallel calls allowed) is what we want.
        "disabled_params": {"parallel_tool_calls": None},
    }
    if settings.model_temperature is not None:
        options["temperature"] = settings.model_temperature
    if settings.model_reasoning_effort:
        options["reasoning_effort"] = settings.model_reasoning_effort
    if settings.model_max_output_tokens is not None:
        options["max_completion_tokens"] = settings.model_max_output_tokens
    return options


def decision_options(settings: Settings) -> dict[str, Any]:
    """Options of the calls that only decide or write tool arguments, on top of
    `call_options`: `MODEL_DECISION_REASONING_EFFORT` when set and not the answers' effort
    (unset, decisions take `MODEL_REASONING_EFFORT` like every call). Never for the offline
    model, which takes no options."""
    effort = settings.model_decision_reasoning_effort
    if settings.provider == "offline" or not effort or effort == settings.model_reasoning_effort:
        return {}
    return {"reasoning_effort": effort}


def uses_v1_api(settings: Settings) -> bool:
    """True for the Azure OpenAI v1 API, False for a dated (classic) api-version."""
    return settings.azure_openai_api_version.strip().lower() == V1


def _http_client(fast_stream: bool, closers: list[Closer] | None) -> dict[str, Any]:
    """The OpenAI SDK's aiohttp client (`DefaultAioHttpClient`, its option "for improved
    concurrency performance") for the fast path: a streamed token costs about a third less CPU
    to read than through httpx and anyio. Closed with the bot."""
    if not fast_stream:
        return {}
    import openai

    client = openai.DefaultAioHttpClient()
    if closers is not None:
        closers.append(client.aclose)
    return {"http_async_client": client}


def _chat_openai(fast_stream: bool) -> type[ChatOpenAI]:
    """`ChatOpenAI`, with the fast streaming read or without."""
    if fast_stream:
        from agent.models.fast_stream import FastChatOpenAI

        return FastChatOpenAI
    from langchain_openai import ChatOpenAI as Stock

    return Stock


def _azure_chat_openai(fast_stream: bool) -> type[AzureChatOpenAI]:
    """`AzureChatOpenAI`, with the fast streaming read or without."""
    if fast_stream:
        from agent.models.fast_stream import FastAzureChatOpenAI

        return FastAzureChatOpenAI
    from langchain_openai import AzureChatOpenAI as Stock

    return Stock


def _azure(settings: Settings, closers: list[Closer] | None, fast_stream: bool) -> BaseChatModel:
    if not settings.azure_openai_endpoint:
        raise ValueError("MODEL_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT")
    if uses_v1_api(settings):
        return _azure_v1(settings, closers, fast_stream)
    azure_chat_openai = _azure_chat_openai(fast_stream)
    common: dict[str, Any] = {
        "azure_endpoint": settings.azure_openai_endpoint,
        "azure_deployment": settings.azure_openai_chat_deployment,
        "api_version": settings.azure_openai_api_version,
        **call_options(settings),
        **_http_client(fast_stream, closers),
    }
    if settings.azure_openai_api_key is not None:
        return azure_chat_openai(api_key=settings.azure_openai_api_key, **common)
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    return azure_chat_openai(
        azure_ad_token_provider=get_bearer_token_provider(
            DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE
        ),
        azure_ad_async_token_provider=_async_token_provider(closers),
        **common,
    )


def _azure_v1(settings: Settings, closers: list[Closer] | None,
              fast_stream: bool) -> BaseChatModel:
    """The v1 API is OpenAI's own protocol at `{endpoint}/openai/v1/`: the OpenAI client sends
    the key, or an Entra ID token from the provider, as `Authorization: Bearer`."""
    base_url = settings.azure_openai_endpoint.rstrip("/") + "/openai/v1/"
    key = settings.azure_openai_api_key
    # The app is async: keyless v1 gives the client an async token provider only.
    api_key: Any = key if key is not None else _async_token_provider(closers)
    return _chat_openai(fast_stream)(
        base_url=base_url, api_key=api_key, model=settings.azure_openai_chat_deployment,
        **call_options(settings), **_http_client(fast_stream, closers))


def _async_token_provider(closers: list[Closer] | None) -> Callable[[], Awaitable[str]]:
    """A refreshing Entra ID token provider on an async credential (closed with the bot)."""
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    credential = DefaultAzureCredential()
    if closers is not None:
        closers.append(credential.close)
    return get_bearer_token_provider(credential, COGNITIVE_SERVICES_SCOPE)


def _openai(settings: Settings, closers: list[Closer] | None,
            fast_stream: bool) -> BaseChatModel:
    from pydantic import SecretStr

    return _chat_openai(fast_stream)(
        base_url=settings.openai_base_url or None,
        api_key=settings.openai_api_key or SecretStr("not-needed"),
        model=settings.openai_model,
        **call_options(settings),
        **_http_client(fast_stream, closers),
    )
