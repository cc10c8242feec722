"""Data-plane access is as narrow as the app needs: Cosmos on the thread database, and Azure AI
Search able to call the embedding deployment with its own identity when it has to.
"""

from __future__ import annotations

from typing import Any

import pytest

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"  # Cognitive Services OpenAI User


def test_cosmos_data_role_is_scoped_to_the_thread_database(infra: Any, bicep: Any) -> None:
    cosmos = infra["modules/cosmos.bicep"]
    roles = cosmos.get("resource", "dataRoles")
    assert roles.target.startswith("Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@")
    props = bicep.properties(bicep.properties(roles.body)["properties"])
    assert bicep.text(props["scope"]) == "databaseScope"
    scope = bicep.text(cosmos.get("var", "databaseScope").value)
    # Data-plane path: the account id, then /dbs/<database> (not the account itself).
    assert scope == "'${account.id}/dbs/${database.name}'"
    assert bicep.text(bicep.properties(roles.body)["name"]).startswith("guid(databaseScope,")


def test_search_has_a_system_assigned_identity(infra: Any, bicep: Any) -> None:
    search = infra["modules/search.bicep"]
    service = search.get("resource", "search")
    # Microsoft.Search/searchServices@2023-11-01 knows identity types None and SystemAssigned.
    assert service.target == "Microsoft.Search/searchServices@2023-11-01"
    identity = bicep.literal(bicep.properties(service.body)["identity"])
    assert identity == {"type": "SystemAssigned"}
    output = search.get("output", "principalId")
    assert bicep.text(output.value) == "search.identity.principalId"


def test_search_identity_gets_the_openai_user_role(infra: Any, bicep: Any) -> None:
    access = infra["modules/openai-access.bicep"]
    assert access.get("param", "searchPrincipalId").default == ""
    role = access.get("resource", "searchOpenAiRole")
    assert role.value.type == "if_statement"
    assert "!empty(searchPrincipalId)" in bicep.text(role.value)
    body = bicep.properties(role.body)
    assert bicep.text(body["scope"]) == "account"
    props = bicep.properties(body["properties"])
    assert bicep.text(props["principalId"]) == "searchPrincipalId"
    assert bicep.literal(props["principalType"]) == "ServicePrincipal"
    assert bicep.literal(access.get("var", "openAiUser").value) == OPENAI_USER
    assert "openAiUser" in bicep.text(props["roleDefinitionId"])
    passed = bicep.properties(
        bicep.properties(infra["main.bicep"].get("module", "openAiAccess").body)["params"]
    )
    assert bicep.text(passed["searchPrincipalId"]) == (
        "searchCallsOpenAi ? search.outputs.principalId : ''"
    )


@pytest.mark.parametrize(
    ("search_enabled", "embedding", "expected"),
    [(True, "text-embedding", True), (True, "", False), (False, "text-embedding", False)],
)
def test_search_is_granted_only_when_it_has_an_embedding_deployment_to_call(
    infra: Any, bicep: Any, search_enabled: bool, embedding: str, expected: bool
) -> None:
    main = infra["main.bicep"]
    given = {"searchEnabled": search_enabled, "openAiEmbeddingDeploymentName": embedding}
    assert bicep.evaluate(main, main.get("var", "searchCallsOpenAi").value, given) is expected
