"""Builds the chat model the settings ask for: Azure OpenAI, any OpenAI-compatible server, or
the offline model.

Azure OpenAI is keyless by default: `azure-identity` supplies a bearer-token provider that
fetches and refreshes Entra ID tokens (managed identity in Azure, your `az login` locally).
An API key is used only when `AZURE_OPENAI_API_KEY` is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.settings import Settings

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


Closer = Callable[[], Awaitable[None]]


def build_chat_model(settings: Settings, closers: list[Closer] | None = None) -> BaseChatModel:
    """The chat model for `settings.provider`, with streaming on. What must be closed with it
    (the async credential of keyless Azure OpenAI) is appended to `closers`."""
    provider = settings.provider
    if provider == "azure":
        return _azure(settings, closers)
    if provider == "openai":
        return _openai(settings)
    from agent.models.offline import OfflineChatModel

    return OfflineChatModel()


def _azure(settings: Settings, closers: list[Closer] | None) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI

    if not settings.azure_openai_endpoint:
        raise ValueError("MODEL_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT")
    common: dict[str, Any] = {
        "azure_endpoint": settings.azure_openai_endpoint,
        "azure_deployment": settings.azure_openai_chat_deployment,
        "api_version": settings.azure_openai_api_version,
        "temperature": settings.model_temperature,
        "timeout": settings.model_timeout_seconds,
        "max_retries": settings.model_max_retries,
        "streaming": True,
        "stream_usage": True,
    }
    if settings.azure_openai_api_key is not None:
        return AzureChatOpenAI(api_key=settings.azure_openai_api_key, **common)
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    from azure.identity.aio import DefaultAzureCredential as AsyncDefaultAzureCredential
    from azure.identity.aio import get_bearer_token_provider as async_token_provider

    async_credential = AsyncDefaultAzureCredential()
    if closers is not None:
        closers.append(async_credential.close)
    return AzureChatOpenAI(
        azure_ad_token_provider=get_bearer_token_provider(
            DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE
        ),
        azure_ad_async_token_provider=async_token_provider(
            async_credential, COGNITIVE_SERVICES_SCOPE
        ),
        **common,
    )


def _openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        base_url=settings.openai_base_url or None,
        api_key=settings.openai_api_key or SecretStr("not-needed"),
        model=settings.openai_model,
        temperature=settings.model_temperature,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        streaming=True,
        stream_usage=True,
    )
