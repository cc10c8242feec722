"""Five deploy risks found against Azure's docs and issue trackers, each held by a test.

1. `Microsoft.Web/sites/basicPublishingCredentialsPolicies` without `location` is refused on
   some subscriptions ("The parameter location has an invalid value"): it carries the site's.
2. Cosmos DB SQL role assignments created in parallel can fail with 412 (one exclusive lock per
   account): the loop runs one at a time (`@batchSize(1)`).
3. azd picks local or remote build per language when `remoteBuild` is absent: azure.yaml pins
   the remote (Linux) build Flex Consumption needs.
4. The `Standard` deployment type of the embedding model is missing in several regions: the
   default is `GlobalStandard`, still a parameter.
5. Microsoft upgrades Azure OpenAI accounts to Foundry (`AIServices`) in place: the account
   this template creates is declared as what the upgrade produces, and a brought account is
   only read. Why, in docs/deploy.md ("The model account: a Foundry resource").

No Bicep CLI here: these read the syntax trees (see conftest.py); `az bicep build` and a real
deployment remain the proof that ARM accepts them.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

SQL_ROLE_ASSIGNMENTS = "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@"
COGNITIVE_ACCOUNTS = "Microsoft.CognitiveServices/accounts@"
OPENAI_ENDPOINT = "account.properties.endpoints['OpenAI Language Model Instance API']"


def resources(infra: Any, prefix: str) -> list[tuple[str, Any]]:
    """(file, declaration) of every resource whose type starts with `prefix`, nested included."""
    return [
        (rel, resource)
        for rel, bicep_file in infra.files.items()
        for resource in bicep_file.declarations("resource")
        if resource.target.startswith(prefix)
    ]


def is_existing(resource: Any) -> bool:
    return any(child.type == "existing" for child in resource.node.children)


# --- 1. publishing-credentials policies carry a location --------------------------------------


def test_publishing_credentials_policies_carry_the_site_location(infra: Any, bicep: Any) -> None:
    api = infra["app/api.bicep"]
    site = bicep.properties(api.get("resource", "site").body)
    policies = [
        resource
        for resource in api.declarations("resource")
        if resource.target in {"basicPublishingCredentialsPolicies"}
        or resource.target.startswith("Microsoft.Web/sites/basicPublishingCredentialsPolicies@")
    ]
    assert len(policies) == 2, "the ftp and scm policies"
    for policy in policies:
        body = bicep.properties(policy.body)
        assert "location" in body, f"{policy.name} has no location"
        assert bicep.text(body["location"]) == bicep.text(site["location"]), policy.name


# --- 2. Cosmos SQL role assignments one at a time ----------------------------------------------


def test_cosmos_sql_role_assignments_are_created_one_at_a_time(infra: Any) -> None:
    found = resources(infra, SQL_ROLE_ASSIGNMENTS)
    assert found, "no Cosmos DB SQL role assignment"
    for rel, resource in found:
        if resource.loop_source is None:
            continue
        assert resource.decorators.get("batchSize") == [1], f"{rel}: {resource.name} in parallel"
    looped = [resource for _, resource in found if resource.loop_source == "principals"]
    assert looped, "the data role is granted to every principal in a loop"


# --- 3. remote build pinned ----------------------------------------------------------------------


def test_azure_yaml_pins_the_remote_build(bicep: Any) -> None:
    config = yaml.safe_load((bicep.repo_root / "azure.yaml").read_text())
    api = config["services"]["api"]
    assert api["host"] == "function"
    assert api.get("remoteBuild") is True


# --- 4. embedding deployment type ----------------------------------------------------------------


def test_embedding_deployment_type_defaults_to_global_standard(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    param = main.get("param", "openAiEmbeddingSkuName")
    assert param.default == "GlobalStandard"
    assert "allowed" not in param.decorators, "any deployment type the region offers"
    assert infra["modules/openai.bicep"].get("param", "embeddingSkuName").default == (
        "GlobalStandard"
    )
    parameters = json.loads((bicep.infra_dir / "main.parameters.json").read_text())
    assert parameters["parameters"]["openAiEmbeddingSkuName"]["value"] == (
        "${OPENAI_EMBEDDING_SKU=GlobalStandard}"
    )


# --- 5. the model account and the Foundry upgrade -----------------------------------------------


def test_the_account_created_here_is_what_the_foundry_upgrade_produces(
    infra: Any, bicep: Any
) -> None:
    account = infra["modules/openai.bicep"].get("resource", "account")
    assert account.target.startswith(COGNITIVE_ACCOUNTS)
    # allowProjectManagement needs a recent API version (2025-06-01 is GA with it).
    assert account.target.removeprefix(COGNITIVE_ACCOUNTS) >= "2025-06-01"
    body = bicep.properties(account.body)
    assert bicep.literal(body["kind"]) == "AIServices"
    props = bicep.properties(body["properties"])
    assert bicep.literal(props["allowProjectManagement"]) is True
    assert bicep.literal(props["disableLocalAuth"]) is True
    assert bicep.text(props["customSubDomainName"]) == "name", "needed for Entra tokens"


def test_no_template_declares_a_classic_openai_account(infra: Any, bicep: Any) -> None:
    for rel, resource in resources(infra, COGNITIVE_ACCOUNTS):
        if is_existing(resource):
            continue
        kind = bicep.properties(resource.body).get("kind")
        assert kind is not None and bicep.literal(kind) != "OpenAI", f"{rel}: {resource.name}"


def test_a_brought_account_is_only_read(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    created = main.get("module", "openAi")
    assert created.value.type == "if_statement"
    assert "createOpenAi" in bicep.text(created.value.named_children[0])
    access = infra["modules/openai-access.bicep"]
    account = access.get("resource", "account")
    assert is_existing(account), "the access module must never PUT the account"
    # The OpenAI endpoint on either kind (an AIServices account's `endpoint` is another host).
    assert bicep.text(access.get("output", "endpoint").value) == OPENAI_ENDPOINT


def test_deploy_md_explains_the_decision(bicep: Any) -> None:
    deploy_md = (bicep.repo_root / "docs" / "deploy.md").read_text()
    assert "### The model account: a Foundry resource" in deploy_md
    terms = ("AIServices", "allowProjectManagement", "foundryAutoUpgrade", "UpdateKindNotAllowed")
    for term in terms:
        assert term in deploy_md, term
