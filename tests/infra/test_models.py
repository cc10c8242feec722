"""The Azure OpenAI part of the deployment: default model, its settings, the existing-account path.

The default chat model is the one docs/deploy.md justifies from Microsoft's model retirement
schedule; the settings Bicep gives the app must be ones agent/settings.py accepts and that fit
a reasoning deployment.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest

from agent.settings import Settings

RETIREMENT_SCHEDULE = (
    "https://learn.microsoft.com/en-us/azure/foundry/openai/concepts/model-retirement-schedule"
)
DEFAULT_CHAT = {
    "openAiChatModelName": "gpt-5.4-mini",
    "openAiChatModelVersion": "2026-03-17",
    "openAiChatSkuName": "GlobalStandard",
    "openAiChatCapacity": 30,
}


def module_params(infra: Any, bicep: Any, name: str) -> dict[str, Any]:
    module = infra["main.bicep"].get("module", name)
    return bicep.properties(bicep.properties(module.body)["params"])


def test_default_chat_model_is_the_documented_ga_model(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    for param, value in DEFAULT_CHAT.items():
        assert main.get("param", param).default == value, param
    deploy_md = (bicep.repo_root / "docs" / "deploy.md").read_text()
    assert RETIREMENT_SCHEDULE in deploy_md
    assert "`gpt-5.4-mini` version `2026-03-17`" in deploy_md
    assert "2026-11-26" in deploy_md, "the date the schedule was read"


def test_chat_deployment_takes_every_model_parameter(infra: Any, bicep: Any) -> None:
    passed = module_params(infra, bicep, "openAi")
    wiring = {
        "chatDeploymentName": "openAiChatDeploymentName",
        "chatModelName": "openAiChatModelName",
        "chatModelVersion": "openAiChatModelVersion",
        "chatSkuName": "openAiChatSkuName",
        "chatCapacity": "openAiChatCapacity",
        "embeddingSkuName": "openAiEmbeddingSkuName",
        "embeddingCapacity": "openAiEmbeddingCapacity",
    }
    for param, value in wiring.items():
        assert bicep.text(passed[param]) == value, param
    chat = bicep.properties(infra["modules/openai.bicep"].get("resource", "chat").body)
    sku = bicep.properties(chat["sku"])
    assert (bicep.text(sku["name"]), bicep.text(sku["capacity"])) == ("chatSkuName", "chatCapacity")


def test_embedding_sku_is_a_parameter(infra: Any, bicep: Any) -> None:
    openai = infra["modules/openai.bicep"]
    embedding = bicep.properties(openai.get("resource", "embedding").body)
    sku = bicep.properties(embedding["sku"])
    assert bicep.text(sku["name"]) == "embeddingSkuName"
    assert bicep.text(sku["capacity"]) == "embeddingCapacity"
    # Its default: test_deploy_risks.py.


def test_deployment_name_and_api_version_defaults_are_the_app_defaults(infra: Any) -> None:
    # Without AZURE_OPENAI_CHAT_DEPLOYMENT a local run against the deployed account calls the
    # app's default name: the deployment created by default must carry it.
    fields = Settings.model_fields
    main = infra["main.bicep"]
    assert (
        main.get("param", "openAiChatDeploymentName").default
        == fields["azure_openai_chat_deployment"].default
    )
    assert main.get("param", "openAiApiVersion").default == "v1"
    assert fields["azure_openai_api_version"].default == "v1"
    assert infra["app/appsettings.bicep"].get("param", "openAiApiVersion").default == "v1"


def reasoning_efforts() -> list[str]:
    annotation = Settings.model_fields["model_reasoning_effort"].annotation
    return list(typing.get_args(annotation))


def test_reasoning_effort_choices_are_those_the_app_accepts(infra: Any) -> None:
    for rel in ("main.bicep", "app/appsettings.bicep"):
        param = infra[rel].get("param", "openAiReasoningEffort")
        assert param.decorators["allowed"] == [reasoning_efforts()], rel
        # Unset by default: gpt-5.4 deployments refuse a reasoning effort (other than none)
        # next to function tools on /chat/completions, and default to none themselves.
        assert param.default == "", rel
    passed = infra["main.bicep"].get("module", "appSettings")
    assert "openAiReasoningEffort: openAiReasoningEffort" in passed.node.text.decode()


@pytest.mark.parametrize("effort", ["", "none", "minimal", "low", "medium", "high"])
def test_reasoning_effort_is_an_app_setting_only_when_set(
    infra: Any, bicep: Any, effort: str
) -> None:
    appsettings = infra["app/appsettings.bicep"]
    emitted = bicep.evaluate(
        appsettings, appsettings.get("var", "modelConfig").value, {"openAiReasoningEffort": effort}
    )
    assert emitted == ({"MODEL_REASONING_EFFORT": effort} if effort else {})
    # What Azure would hand the app is what the app accepts.
    settings = Settings.model_validate({k.lower(): v for k, v in emitted.items()})
    assert settings.model_reasoning_effort == effort


def resource_group_of_openai(infra: Any, bicep: Any, given: dict[str, Any]) -> Any:
    main = infra["main.bicep"]
    values = {"rg.name": "rg-dev", **given}
    return bicep.evaluate(main, main.get("var", "openAiResourceGroupName").value, values)


def test_a_new_account_lives_in_the_new_resource_group(infra: Any, bicep: Any) -> None:
    given = {"openAiExistingAccountName": "", "openAiExistingResourceGroupName": "ignored"}
    assert resource_group_of_openai(infra, bicep, given) == "rg-dev"


def test_an_existing_account_is_looked_up_in_its_own_resource_group(infra: Any, bicep: Any) -> None:
    given = {"openAiExistingAccountName": "oai-shared", "openAiExistingResourceGroupName": "rg-ai"}
    assert resource_group_of_openai(infra, bicep, given) == "rg-ai"
    access = infra["main.bicep"].get("module", "openAiAccess")
    scope = bicep.properties(access.body)["scope"]
    assert bicep.text(scope) == "resourceGroup(openAiResourceGroupName)"


def test_an_existing_account_without_its_resource_group_stops_the_deployment(
    infra: Any, bicep: Any
) -> None:
    given = {"openAiExistingAccountName": "oai-shared", "openAiExistingResourceGroupName": ""}
    with pytest.raises(bicep.BicepFail, match="OPENAI_EXISTING_RESOURCE_GROUP"):
        resource_group_of_openai(infra, bicep, given)
