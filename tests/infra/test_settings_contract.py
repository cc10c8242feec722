"""The deployment and the code agree: app settings, data-plane roles, keyless configuration.

The settings Bicep assigns (infra/app/appsettings.bicep) minus the platform settings below must
equal the fields of agent/settings.py `Settings` minus the fields deliberately not set in Azure
below. Adding a Settings field makes this fail until it is either wired in Bicep or classified
here with a reason: that is the point.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from agent.memory.cosmos_account import INDEXING_POLICY
from agent.settings import Settings

# Assigned by Bicep but read by the platform, not by `Settings`.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri": "host storage (blobs only) by identity, no secret",
    "AzureWebJobsStorage__credential": "selects the managed identity for host storage",
    "AzureWebJobsStorage__clientId": "which (user-assigned) identity the host uses for storage",
    # The two APPLICATIONINSIGHTS_* are also read by the app's telemetry (agent.telemetry),
    # through `PlatformSettings`, under the same names.
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where the host and worker send telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra-only telemetry ingestion with the identity",
    "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID": "Easy Auth signs in with the identity, no secret",
    "WEBSITE_AUTH_AAD_ALLOWED_TENANTS": "Easy Auth: the tenant whose users may sign in",
    "PYTHON_ENABLE_INIT_INDEXING": "required by azurefunctions-extensions-http-fastapi streaming",
    "AZURE_CLIENT_ID": "read by azure-identity's DefaultAzureCredential, not by Settings",
}

# Settings fields Bicep deliberately does not assign; the code default (or nothing) is right.
NOT_SET_IN_AZURE = {
    "AZURE_OPENAI_API_KEY": "key fallback for local runs; Azure uses the managed identity",
    "AZURE_COSMOSDB_KEY": "key fallback for the emulator/local runs; Cosmos local auth is off",
    "AZURE_SEARCH_KEY": "key fallback for local runs; Search local auth is off",
    "OPENAI_BASE_URL": "OpenAI-compatible provider, used only with MODEL_PROVIDER=openai (local)",
    "OPENAI_API_KEY": "OpenAI-compatible provider key, local only",
    "OPENAI_MODEL": "OpenAI-compatible provider model, local only",
    "AZURE_COSMOSDB_CREATE_IF_MISSING": "Bicep creates them; the app has no control-plane role",
    "DOCS_DIR": "docs ship inside the package; the code default resolves there",
    "OUTBOUND_ALLOW_PRIVATE": "SSRF guard stays on in Azure; only loopback tests turn it on",
    "SQL_DATABASE_URL": "empty: the sample SQLite DB in DATA_DIR; a real URL is a secret",
    "APISEARCH_OPENAPI_SPEC": "optional, your API; add it to app/appsettings.bicep to enable",
    "APISEARCH_OPERATIONS": "optional, with APISEARCH_OPENAPI_SPEC",
    "WEBSEARCH_PROVIDER": "optional third-party web search; needs an API key, not provisioned",
    "WEBSEARCH_ENDPOINT": "optional third-party web search endpoint, not provisioned",
    "WEBSEARCH_API_KEY": "third-party key; never in app settings",
    "MODEL_TEMPERATURE": "unset: reasoning deployments refuse any temperature but 1",
    "MODEL_MAX_OUTPUT_TOKENS": "tuning knob; unset = the deployment's own limit",
    "MODEL_DECISION_REASONING_EFFORT": "unset = MODEL_REASONING_EFFORT; the default gpt-5.4-mini "
    "takes no effort but none next to tools, which is already its default",
    "REQUEST_DEADLINE_SECONDS": "code default (200 s) fits the 230 s front-end limit",
    "CHECKPOINT_DURABILITY": "tuning knob; code default (one checkpoint per turn)",
    "THREAD_BUSY": "behaviour choice; code default (refuse a second turn on a busy thread)",
    "THREAD_BUSY_WAIT_SECONDS": "tuning knob; code default",
    "THREAD_LEASE_SECONDS": "tuning knob; code default (crash recovery time of a thread)",
    "MODEL_TIMEOUT_SECONDS": "tuning knob; code default",
    "MODEL_MAX_RETRIES": "tuning knob; code default",
    "CHECKPOINT_MAX_BYTES": "tuning knob; code default",
    "DOCSEARCH_TOP_K": "tuning knob; code default",
    "AZURE_SEARCH_SEMANTIC_CONFIG": "depends on the index you build; code default 'default'",
    "AZURE_SEARCH_VECTOR_FIELDS": "depends on the index you build; code default",
    "AZURE_SEARCH_RERANKER_THRESHOLD": "tuning knob; code default",
    "SQL_MAX_ROWS": "tuning knob; code default",
    "SQL_TIMEOUT_SECONDS": "tuning knob; code default (10 s per SQL statement)",
    "SQL_MAX_CONCURRENT_QUERIES": "tuning knob; code default (4 SQL queries at once)",
    "OUTBOUND_TIMEOUT_SECONDS": "tuning knob; code default",
    "OUTBOUND_MAX_BYTES": "tuning knob; code default",
    "MAX_INPUT_CHARS": "HTTP limit; code default",
    "MAX_BATCH_QUESTIONS": "HTTP limit; code default",
    "BATCH_CONCURRENCY": "HTTP limit; code default",
    "SSE_KEEPALIVE_SECONDS": "streaming keep-alive; code default",
    "TOOL_PREVIEW_CHARS": "streaming preview size; code default",
    "HOST": "local dev server bind address; the Functions host serves HTTP in Azure",
    "PORT": "local dev server port; the Functions host serves HTTP in Azure",
    "LOG_LEVEL": "local dev server logging; in Azure host.json sets log levels",
    "TELEMETRY_CAPTURE_CONTENT": "off: no prompt or answer in Application Insights unless chosen",
}

# Data-plane roles the code needs, by the service it calls.
REQUIRED_ROLES = {
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor (thread memory)",
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": "Cognitive Services OpenAI User (chat model)",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner (package, host storage)",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher (Entra-only telemetry)",
    "1407120a-92aa-4202-b7e9-c0e197c71c8f": "Search Index Data Reader (docsearch)",
}
ROLE_RESOURCE_TYPES = (
    "Microsoft.Authorization/roleAssignments@",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@",
)


def settings_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def bicep_app_settings(infra: Any, bicep: Any) -> set[str]:
    """Every key of the settings objects (the module's `var`s) in app/appsettings.bicep."""
    keys: set[str] = set()
    for var in infra["app/appsettings.bicep"].declarations("var"):
        keys |= bicep.object_keys(var.value)
    return keys


def app_setting_literals(infra: Any, bicep: Any) -> dict[str, object]:
    """Literal values among the assigned settings (expressions are skipped)."""
    values: dict[str, object] = {}
    for var in infra["app/appsettings.bicep"].declarations("var"):
        for node in bicep.walk(var.value):
            if node.type == "object":
                for key, value in bicep.properties(node).items():
                    try:
                        values[key] = bicep.literal(value)
                    except ValueError:
                        continue
    return values


def test_bicep_settings_equal_the_settings_the_code_reads_in_azure(infra: Any, bicep: Any) -> None:
    assigned = bicep_app_settings(infra, bicep) - set(PLATFORM_SETTINGS)
    expected = settings_env_names() - set(NOT_SET_IN_AZURE)
    assert assigned - expected == set(), "Bicep sets settings the code does not read"
    assert expected - assigned == set(), (
        "Settings fields neither set by Bicep nor classified in NOT_SET_IN_AZURE"
    )


def test_classification_lists_are_current(infra: Any, bicep: Any) -> None:
    fields = settings_env_names()
    assigned = bicep_app_settings(infra, bicep)
    assert set(NOT_SET_IN_AZURE) <= fields, sorted(set(NOT_SET_IN_AZURE) - fields)
    assert not set(NOT_SET_IN_AZURE) & assigned
    assert set(PLATFORM_SETTINGS) <= assigned, sorted(set(PLATFORM_SETTINGS) - assigned)
    assert not set(PLATFORM_SETTINGS) & fields


def test_no_key_or_secret_is_configured(infra: Any, bicep: Any) -> None:
    assigned = bicep_app_settings(infra, bicep)
    secretish = {n for n in assigned if n.upper().endswith(("_KEY", "SECRET", "PASSWORD"))}
    assert not secretish
    for rel, bicep_file in infra.files.items():
        source = bicep_file.source.decode().lower()
        for forbidden in ("listkeys(", "listconnectionstrings(", "accountkey=", "sharedaccesskey"):
            assert forbidden not in source, f"{rel} uses {forbidden}"


def test_settings_values_that_the_app_depends_on(infra: Any, bicep: Any) -> None:
    values = app_setting_literals(infra, bicep)
    assert values["MODEL_PROVIDER"] == "azure"
    assert values["DATA_DIR"] == "/tmp/smartbot"
    assert values["PYTHON_ENABLE_INIT_INDEXING"] == "1"
    assert values["AzureWebJobsStorage__credential"] == "managedidentity"


def test_the_app_gets_exactly_the_contract(infra: Any, bicep: Any) -> None:
    api = infra["app/api.bicep"]
    config = api.get("resource", "appSettingsConfig")
    body = bicep.properties(config.body)
    assert bicep.literal(body["name"]) == "appsettings"
    assert bicep.text(body["properties"]) == "appSettings", "settings must come from the contract"
    assert "appSettings" in api.names("param")
    site = bicep.properties(api.get("resource", "site").body)
    site_config = bicep.properties(bicep.properties(site["properties"])["siteConfig"])
    assert "appSettings" not in site_config, "a second source of app settings"
    main_api = bicep.properties(infra["main.bicep"].get("module", "api").body)
    passed = bicep.properties(main_api["params"])["appSettings"]
    assert bicep.text(passed) == "appSettings.outputs.values"


def role_grants(infra: Any, bicep: Any) -> list[tuple[str, str, str]]:
    """(file, role GUID, collection looped over) for every role assignment resource."""
    grants = []
    for rel, bicep_file in infra.files.items():
        guids = {}
        for var in bicep_file.declarations("var"):
            try:
                guids[var.name] = bicep.literal(var.value)
            except ValueError:
                continue
        for resource in bicep_file.declarations("resource"):
            if not resource.target.startswith(ROLE_RESOURCE_TYPES):
                continue
            props = bicep.properties(bicep.properties(resource.body)["properties"])
            role_expr = bicep.text(props["roleDefinitionId"])
            roles = {g for name, g in guids.items() if isinstance(g, str) and name in role_expr}
            roles |= {g for g in REQUIRED_ROLES if g in role_expr}
            assert roles, f"{rel}: {resource.name} has no recognisable role id"
            for role in roles:
                grants.append((rel, role, resource.loop_source or ""))
    return grants


def test_every_data_plane_service_has_its_role_for_all_principals(infra: Any, bicep: Any) -> None:
    grants = role_grants(infra, bicep)
    for role, what in REQUIRED_ROLES.items():
        loops = {loop for _, r, loop in grants if r == role}
        assert "principals" in loops, f"{what} is not granted to every principal"


def test_principals_are_the_app_identity_and_the_deploying_user(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    principals = bicep.text(main.get("var", "dataPrincipals").value)
    assert "identity.outputs.principalId" in principals
    assert "id: principalId" in principals
    granting_files = {rel for rel, _, loop in role_grants(infra, bicep) if loop == "principals"}
    for module in main.declarations("module"):
        target = infra.resolve_module(main, module)
        if target is not None and target.rel in granting_files:
            params = bicep.properties(bicep.properties(module.body)["params"])
            assert bicep.text(params["principals"]) == "dataPrincipals", module.name


@pytest.mark.parametrize(
    ("rel", "resource", "path", "expected"),
    [
        ("modules/cosmos.bicep", "account", ("properties", "disableLocalAuth"), True),
        ("modules/openai.bicep", "account", ("properties", "disableLocalAuth"), True),
        ("modules/search.bicep", "search", ("properties", "disableLocalAuth"), True),
        ("modules/cosmos.bicep", "container", ("properties", "resource", "defaultTtl"), -1),
        (
            "modules/cosmos.bicep",
            "container",
            ("properties", "resource", "partitionKey", "paths"),
            ["/thread_id"],
        ),
        (
            "modules/cosmos.bicep",
            "container",
            ("properties", "resource", "indexingPolicy"),
            INDEXING_POLICY,
        ),
        ("app/api.bicep", "site", ("properties", "httpsOnly"), True),
    ],
)
def test_resource_property(
    infra: Any, bicep: Any, rel: str, resource: str, path: tuple[str, ...], expected: object
) -> None:
    node = infra[rel].get("resource", resource).body
    for key in path:
        node = bicep.properties(node)[key]
    assert bicep.literal(node) == expected


def test_keyless_storage_and_telemetry(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    storage = bicep.properties(bicep.properties(main.get("module", "storage").body)["params"])
    assert bicep.literal(storage["allowSharedKeyAccess"]) is False
    insights = bicep.properties(bicep.properties(main.get("module", "appInsights").body)["params"])
    assert bicep.literal(insights["disableLocalAuth"]) is True


# The Python the project deploys by default and tests on (`make test PYTHON=python3.13`).
DEPLOYED_PYTHON = "3.13"
ALLOWED_PYTHONS = ["3.11", "3.12", "3.13"]


def applicable_requirements(python: str, bicep: Any) -> list[Requirement]:
    """The requirements.txt lines that pip installs on `python` (environment markers applied)."""
    lines = (bicep.repo_root / "requirements.txt").read_text().splitlines()
    found = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        environment = {"python_version": python, "python_full_version": f"{python}.0"}
        if requirement.marker is None or requirement.marker.evaluate(environment):
            found.append(requirement)
    return found


def test_deployed_python_is_the_tested_one_and_the_requirements_cover_it(
    infra: Any, bicep: Any
) -> None:
    param = infra["main.bicep"].get("param", "pythonVersion")
    assert param.default == DEPLOYED_PYTHON
    assert param.decorators["allowed"] == [ALLOWED_PYTHONS]
    pyproject = tomllib.loads((bicep.repo_root / "pyproject.toml").read_text())
    supported = SpecifierSet(pyproject["project"]["requires-python"])
    for python in ALLOWED_PYTHONS:
        assert f"{python}.0" in supported, f"pyproject.toml does not support Python {python}"
        # Exactly one pin of the Functions library applies, whatever markers select it.
        names = [r.name for r in applicable_requirements(python, bicep)]
        assert names.count("azure-functions") == 1, f"Python {python}: {names}"
    site = bicep.properties(infra["app/api.bicep"].get("resource", "site").body)
    flex = bicep.properties(bicep.properties(site["properties"])["functionAppConfig"])
    runtime = bicep.properties(flex["runtime"])
    assert bicep.text(runtime["version"]) == "pythonVersion"
    api_module = infra["main.bicep"].get("module", "api")
    passed = bicep.properties(bicep.properties(api_module.body)["params"])
    assert bicep.text(passed["pythonVersion"]) == "pythonVersion"


def test_flex_consumption_runtime_and_concurrency(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    assert main.get("param", "cosmosServerless").default is True
    assert main.get("param", "httpPerInstanceConcurrency").default > 1
    plan = bicep.properties(bicep.properties(main.get("module", "plan").body)["params"])
    assert bicep.literal(plan["sku"]) == {"name": "FC1", "tier": "FlexConsumption"}
    site = bicep.properties(infra["app/api.bicep"].get("resource", "site").body)
    flex = bicep.properties(bicep.properties(site["properties"])["functionAppConfig"])
    scale = bicep.properties(flex["scaleAndConcurrency"])
    http = bicep.properties(bicep.properties(scale["triggers"])["http"])
    assert bicep.text(http["perInstanceConcurrency"]) == "httpPerInstanceConcurrency"
    assert bicep.literal(bicep.properties(flex["runtime"])["name"]) == "python"


def test_outputs_let_a_local_run_use_the_deployed_resources(infra: Any, bicep: Any) -> None:
    outputs = infra["main.bicep"].names("output")
    # AUTH_MODE=easyauth trusts headers only Easy Auth can set: a local run never inherits it.
    local_settings = (bicep_app_settings(infra, bicep) & settings_env_names()) - {
        "DATA_DIR", "AUTH_MODE"}
    assert local_settings <= outputs, sorted(local_settings - outputs)
    assert {"SERVICE_API_NAME", "AZURE_FUNCTION_APP_URL"} <= outputs
    # A local AZURE_CLIENT_ID would point DefaultAzureCredential at the app's identity.
    assert "AZURE_CLIENT_ID" not in outputs


# Prefixes of the settings' names: an output starting with one reads as a setting.
SETTING_PREFIXES = ("AZURE_OPENAI_", "AZURE_COSMOSDB_", "AZURE_SEARCH_", "MODEL_", "THREAD_")


def test_no_output_looks_like_a_setting_the_app_does_not_read(infra: Any) -> None:
    # Outputs land in the environment a local run is started from (docs/deploy.md): one named
    # like a setting must be one, or be a resource's name (`..._NAME`, for az commands).
    fields = settings_env_names()
    for output in infra["main.bicep"].names("output"):
        if output.startswith(SETTING_PREFIXES) and not output.endswith("_NAME"):
            assert output in fields, f"output {output} is not a setting the app reads"
