"""The model factory: each provider's model talks the right protocol to a loopback server.

The keyless Azure path is exercised with `azure.identity`'s credential classes replaced by
tiny credentials that hand out numbered tokens with chosen lifetimes and count their calls,
so the tests see exactly when the bearer-token provider fetches, reuses and refreshes a token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from agent.models.factory import COGNITIVE_SERVICES_SCOPE, build_chat_model
from agent.models.offline import OfflineChatModel
from agent.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Turn, fake_openai

DEPLOYMENT = "chat-deployment"
API_VERSION = "2024-10-21"
SHORT_LIVED = 10  # seconds: inside azure-core's refresh window, so the next call refreshes
LONG_LIVED = 3600  # seconds: outside it, so the token is reused


@dataclass
class TokenLog:
    """What the replaced credentials were asked for."""

    lifetimes: list[int]
    scopes: list[tuple[str, ...]] = field(default_factory=list)
    closed: int = 0

    def issue(self, scopes: tuple[str, ...]) -> AccessToken:
        self.scopes.append(scopes)
        number = len(self.scopes)
        lifetime = self.lifetimes[min(number, len(self.lifetimes)) - 1]
        return AccessToken(f"tok-{number}", int(time.time()) + lifetime)


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> TokenLog:
    """Replace DefaultAzureCredential (sync and aio) with counting credentials."""
    log = TokenLog(lifetimes=[SHORT_LIVED, LONG_LIVED])

    class SyncCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return log.issue(scopes)

    class AsyncCredential:
        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return log.issue(scopes)

        async def close(self) -> None:
            log.closed += 1

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", SyncCredential)
    monkeypatch.setattr("azure.identity.aio.DefaultAzureCredential", AsyncCredential)
    return log


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOpenAI, str]]:
    # langchain-openai also reads these from the environment; none may leak into a test,
    # except a stray OpenAI key, which the keyless path must not send.
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_OPENAI_ENDPOINT",
                 "OPENAI_API_VERSION", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "stray-openai-key")
    with fake_openai() as running:
        yield running


def _azure(base_url: str, api_key: str | None = None) -> Settings:
    return Settings(model_provider="azure", azure_openai_endpoint=base_url,
                    azure_openai_chat_deployment=DEPLOYMENT,
                    azure_openai_api_version=API_VERSION,
                    azure_openai_api_key=SecretStr(api_key) if api_key else None,
                    model_max_retries=0)


def _assert_azure_request(fake: FakeOpenAI, index: int) -> dict[str, str]:
    request = fake.requests[index]
    assert request.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert request.query == {"api-version": API_VERSION}
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    return request.headers


async def test_keyless_azure_fetches_tokens_lazily_and_refreshes_them(
    tokens: TokenLog, server: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url))
    assert tokens.scopes == [], "no token may be fetched when the model is built"
    fake.add(*(Turn(chunks=[f"answer {i}"]) for i in range(3)))

    answers = [(await model.ainvoke([HumanMessage(f"q{i}")])).text for i in range(3)]

    assert answers == ["answer 0", "answer 1", "answer 2"]
    auth = [_assert_azure_request(fake, i) for i in range(3)]
    # tok-1 was about to expire, so the second call fetched tok-2; tok-2 is then reused.
    assert [h["authorization"] for h in auth] == ["Bearer tok-1", "Bearer tok-2",
                                                  "Bearer tok-2"]
    assert all("api-key" not in h for h in auth)
    assert tokens.scopes == [(COGNITIVE_SERVICES_SCOPE,)] * 2


def test_keyless_azure_sync_calls_use_the_sync_credential(
    tokens: TokenLog, server: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url))
    fake.add(Turn(chunks=["one"]), Turn(chunks=["two"]))
    assert [model.invoke([HumanMessage("a")]).text, model.invoke([HumanMessage("b")]).text] == [
        "one", "two"]
    headers = [_assert_azure_request(fake, i) for i in range(2)]
    assert [h["authorization"] for h in headers] == ["Bearer tok-1", "Bearer tok-2"]
    assert all("api-key" not in h for h in headers)


async def test_azure_api_key_is_sent_as_the_api_key_header(
    tokens: TokenLog, server: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url, api_key="azure-test-key"))
    fake.add(Turn(chunks=["keyed"]))
    assert (await model.ainvoke([HumanMessage("q")])).text == "keyed"
    headers = _assert_azure_request(fake, 0)
    assert headers["api-key"] == "azure-test-key"
    assert "authorization" not in headers
    assert tokens.scopes == [], "the key path must not ask Entra ID for tokens"


async def test_openai_compatible_endpoint_by_base_url(server: tuple[FakeOpenAI, str]) -> None:
    fake, base_url = server
    model = build_chat_model(Settings(model_provider="openai", openai_base_url=f"{base_url}/v1",
                                      openai_api_key=SecretStr("sk-test"), openai_model="llama3"))
    fake.add(Turn(chunks=["hi ", "there"]))
    chunks = [chunk.text async for chunk in model.astream([HumanMessage("q")])]
    assert "".join(chunks) == "hi there"
    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "llama3"
    assert request.body["stream"] is True


def test_offline_is_the_default_and_azure_needs_an_endpoint() -> None:
    assert isinstance(build_chat_model(Settings(model_provider="offline")), OfflineChatModel)
    with pytest.raises(ValueError, match="AZURE_OPENAI_ENDPOINT"):
        build_chat_model(Settings(model_provider="azure", azure_openai_endpoint=""))


async def test_keyless_azure_hands_back_its_credential_to_close(tokens: TokenLog) -> None:
    closers: list = []
    build_chat_model(_azure("https://example.invalid"), closers)
    assert len(closers) == 1
    await closers[0]()
    assert tokens.closed == 1
    build_chat_model(_azure("https://example.invalid", api_key="k"), keyed := [])
    assert keyed == [], "the key path has no credential to close"
