"""THREAD_TTL_SECONDS from Bicep is always a value the app accepts: -1 (never) or >= 1, never 0.

A single int parameter can be bounded but not told "anything but 0", so the template takes a
bool (`threadsExpire`) and a number of seconds bounded below by 1. These tests evaluate the
expression the template computes for every kind of input and hand the result to the app's own
checks (Settings and the Cosmos checkpointer, which refuses 0).
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.memory.cosmos import CosmosSaver
from agent.settings import Settings


def ttl_floor(infra: Any) -> int:
    param = infra["main.bicep"].get("param", "threadTtlSeconds")
    assert param.type_name == "int"
    (floor,) = param.decorators["minValue"]
    return int(floor)


def test_seconds_cannot_be_zero_or_negative_and_expiry_is_a_switch(infra: Any) -> None:
    assert ttl_floor(infra) == 1
    expire = infra["main.bicep"].get("param", "threadsExpire")
    assert expire.type_name == "bool"
    assert expire.default is True


def effective_ttl(infra: Any, bicep: Any, expire: bool, seconds: int) -> Any:
    main = infra["main.bicep"]
    given = {"threadsExpire": expire, "threadTtlSeconds": seconds}
    return bicep.evaluate(main, main.get("var", "threadTtlSetting").value, given)


@pytest.mark.parametrize("expire", [True, False])
@pytest.mark.parametrize("seconds", [1, 2, 3600, 2592000])
def test_every_allowed_input_gives_a_ttl_the_app_accepts(
    infra: Any, bicep: Any, expire: bool, seconds: int
) -> None:
    assert seconds >= ttl_floor(infra)
    ttl = effective_ttl(infra, bicep, expire, seconds)
    assert ttl == (seconds if expire else -1)
    # The app setting is the string of that value, as appsettings.bicep writes it.
    appsettings = infra["app/appsettings.bicep"]
    config = bicep.evaluate(
        appsettings,
        appsettings.get("var", "appConfig").value,
        {
            "threadTtlSeconds": ttl,
            "openAiEndpoint": "https://oai.openai.azure.com/",
            "openAiChatDeployment": "chat",
            "cosmosEndpoint": "https://cosmos.documents.azure.com:443/",
            "cosmosDatabase": "smartbot",
            "cosmosContainer": "threads",
        },
    )
    setting = config["THREAD_TTL_SECONDS"]
    settings = Settings.model_validate({"thread_ttl_seconds": setting})
    # The checkpointer's constructor only checks its arguments; it touches no container.
    CosmosSaver(object(), ttl_seconds=settings.thread_ttl_seconds, max_bytes=1)


def test_the_app_really_refuses_zero() -> None:
    # What the template must never produce (the guard the tests above rely on).
    with pytest.raises(ValueError, match="-1"):
        CosmosSaver(object(), ttl_seconds=0, max_bytes=1)


def test_the_effective_value_is_what_the_app_and_the_outputs_get(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    passed = bicep.properties(bicep.properties(main.get("module", "appSettings").body)["params"])
    assert bicep.text(passed["threadTtlSeconds"]) == "threadTtlSetting"
    assert bicep.text(main.get("output", "THREAD_TTL_SECONDS").value) == "threadTtlSetting"
    param = infra["app/appsettings.bicep"].get("param", "threadTtlSeconds")
    assert param.decorators["minValue"] == [-1]
