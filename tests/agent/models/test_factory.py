"""The model factory: each provider's model talks the right protocol to a loopback server.

The keyless Azure path is exercised with `azure.identity`'s credential classes replaced by
tiny credentials that hand out numbered tokens with chosen lifetimes and count their calls,
so the tests see exactly when the bearer-token provider fetches, reuses and refreshes a token.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from agent.models.factory import COGNITIVE_SERVICES_SCOPE, build_chat_model
from agent.models.offline import OfflineChatModel
from agent.settings import Settings
from standins.model_service import FakeOpenAI, Turn, fake_openai

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
async def opened() -> AsyncIterator[list[Any]]:
    """Closers of the models a test builds (credential, HTTP client), closed after it."""
    closers: list[Any] = []
    yield closers
    for close in closers:
        await close()


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


def _azure(base_url: str, api_key: str | None = None, api_version: str = API_VERSION,
           **options: Any) -> Settings:
    return Settings(model_provider="azure", azure_openai_endpoint=base_url,
                    azure_openai_chat_deployment=DEPLOYMENT,
                    azure_openai_api_version=api_version,
                    azure_openai_api_key=SecretStr(api_key) if api_key else None,
                    model_max_retries=0, **options)


def _assert_azure_request(fake: FakeOpenAI, index: int) -> dict[str, str]:
    request = fake.requests[index]
    assert request.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert request.query == {"api-version": API_VERSION}
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    return request.headers


async def test_keyless_azure_fetches_tokens_lazily_and_refreshes_them(
    tokens: TokenLog, server: tuple[FakeOpenAI, str], opened: list[Any]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url), opened)
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
    tokens: TokenLog, server: tuple[FakeOpenAI, str], opened: list[Any]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url, api_key="azure-test-key"), opened)
    fake.add(Turn(chunks=["keyed"]))
    assert (await model.ainvoke([HumanMessage("q")])).text == "keyed"
    headers = _assert_azure_request(fake, 0)
    assert headers["api-key"] == "azure-test-key"
    assert "authorization" not in headers
    assert tokens.scopes == [], "the key path must not ask Entra ID for tokens"


async def test_openai_compatible_endpoint_by_base_url(server: tuple[FakeOpenAI, str],
                                                      opened: list[Any]) -> None:
    fake, base_url = server
    model = build_chat_model(Settings(model_provider="openai", openai_base_url=f"{base_url}/v1",
                                      openai_api_key=SecretStr("sk-test"), openai_model="llama3"),
                             opened)
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
    assert len(closers) == 2, "the credential and the HTTP client"
    for close in closers:
        await close()
    assert tokens.closed == 1
    build_chat_model(_azure("https://example.invalid", api_key="k"), keyed := [])
    assert len(keyed) == 1, "the key path hands back its HTTP client only"
    await keyed[0]()
    assert tokens.closed == 1, "the key path has no credential to close"


def _assert_v1_request(fake: FakeOpenAI, index: int) -> dict[str, str]:
    request = fake.requests[index]
    assert request.path == "/openai/v1/chat/completions"
    assert request.query == {}
    assert request.body["model"] == DEPLOYMENT
    assert request.body["stream"] is True
    return request.headers


async def test_keyless_v1_api_sends_refreshed_entra_tokens_as_bearer(
    tokens: TokenLog, server: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = server
    closers: list[Any] = []
    model = build_chat_model(_azure(base_url, api_version="v1"), closers)
    assert tokens.scopes == [], "no token may be fetched when the model is built"
    fake.add(*(Turn(chunks=[f"v1 answer {i}"]) for i in range(3)))

    answers = [(await model.ainvoke([HumanMessage(f"q{i}")])).text for i in range(3)]

    assert answers == ["v1 answer 0", "v1 answer 1", "v1 answer 2"]
    headers = [_assert_v1_request(fake, i) for i in range(3)]
    assert [h["authorization"] for h in headers] == ["Bearer tok-1", "Bearer tok-2",
                                                     "Bearer tok-2"]
    assert all("api-key" not in h for h in headers)
    assert tokens.scopes == [(COGNITIVE_SERVICES_SCOPE,)] * 2
    assert len(closers) == 2, "the credential and the HTTP client"
    for close in closers:
        await close()
    assert tokens.closed == 1


async def test_v1_api_with_a_key_sends_it_as_bearer(
    tokens: TokenLog, server: tuple[FakeOpenAI, str], opened: list[Any]
) -> None:
    fake, base_url = server
    model = build_chat_model(_azure(base_url + "/", api_key="v1-key", api_version="V1"), opened)
    fake.add(Turn(chunks=["keyed v1"]))
    assert (await model.ainvoke([HumanMessage("q")])).text == "keyed v1"
    assert _assert_v1_request(fake, 0)["authorization"] == "Bearer v1-key"
    assert tokens.scopes == []


OPTIONAL = ("temperature", "reasoning_effort", "max_completion_tokens", "max_tokens",
            "parallel_tool_calls", "top_p")


@pytest.mark.parametrize("api_version", ["v1", API_VERSION])
async def test_only_the_options_that_are_set_are_sent(
    server: tuple[FakeOpenAI, str], api_version: str, opened: list[Any]
) -> None:
    fake, base_url = server
    plain = build_chat_model(_azure(base_url, api_key="k", api_version=api_version), opened)
    tuned = build_chat_model(_azure(base_url, api_key="k", api_version=api_version,
                                    model_reasoning_effort="low", model_max_output_tokens=300),
                             opened)
    fake.add(Turn(chunks=["a"]), Turn(chunks=["b"]))
    await plain.ainvoke([HumanMessage("q")])
    await tuned.ainvoke([HumanMessage("q")])
    first, second = (r.body for r in fake.requests)
    assert not set(OPTIONAL) & set(first)
    assert {k: second[k] for k in set(OPTIONAL) & set(second)} == {
        "reasoning_effort": "low", "max_completion_tokens": 300}
    assert fake.refusals == []


async def test_each_kind_of_deployment_takes_its_own_settings(opened: list[Any]) -> None:
    with fake_openai(deployments={"reasoner": "reasoning", "classic": "classic"}) as (
            fake, base_url):
        def model(deployment: str, **options: Any) -> Any:
            return build_chat_model(Settings(
                model_provider="azure", azure_openai_endpoint=base_url,
                azure_openai_chat_deployment=deployment, azure_openai_api_key=SecretStr("k"),
                model_max_retries=0, **options), opened)

        fake.add(Turn(chunks=["ok"]), Turn(chunks=["ok"]))
        assert (await model("reasoner", model_reasoning_effort="minimal").ainvoke("q")).text
        assert (await model("classic", model_temperature=0.2).ainvoke("q")).text
        assert fake.refusals == []
        with pytest.raises(Exception, match="temperature"):
            await model("reasoner", model_temperature=0.0).ainvoke("q")
        with pytest.raises(Exception, match="reasoning_effort"):
            await model("classic", model_reasoning_effort="low").ainvoke("q")
        assert [(r.status, r.param) for r in fake.refusals] == [
            (400, "temperature"), (400, "reasoning_effort")]
