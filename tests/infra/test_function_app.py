"""The function app fits the Flex Consumption plan: site properties, app settings, host storage.

Flex Consumption moved the runtime and scale settings into `functionAppConfig` and deprecates
many site properties and app settings of the older plans (Microsoft's "Flex Consumption plan
deprecations"; see docs/deploy.md). These checks read infra/app/api.bicep and
infra/app/appsettings.bicep; `az bicep build` and a deployment remain the real proof.
"""

from __future__ import annotations

from typing import Any

# siteConfig properties the plan does not take (FTP is off through the publishing-credentials
# policies; HTTP/2, Always On, the stack versions and scale limits belong to the older plans).
FLEX_UNSUPPORTED_SITE_CONFIG = {
    "ftpsState",
    "http20Enabled",
    "alwaysOn",
    "linuxFxVersion",
    "pythonVersion",
    "use32BitWorkerProcess",
    "functionAppScaleLimit",
    "functionsRuntimeScaleMonitoringEnabled",
    "preWarmedInstanceCount",
    "minimumElasticInstanceCount",
    "appSettings",
}
SITE_CONFIG_USED = {"minTlsVersion", "cors"}

# App settings the plan rejects or ignores: they moved to functionAppConfig or do not exist.
FLEX_UNSUPPORTED_APP_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_TIME_ZONE",
    "TZ",
}

# The data role each host storage service needs when the host is pointed at it.
STORAGE_SERVICE_ROLES = {
    "blob": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
    "queue": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
    "table": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
}


def site(infra: Any, bicep: Any) -> dict[str, Any]:
    resource = infra["app/api.bicep"].get("resource", "site")
    assert resource.target.startswith("Microsoft.Web/sites@")
    return bicep.properties(bicep.properties(resource.body)["properties"])


def settings_object(infra: Any, bicep: Any, var: str) -> dict[str, Any]:
    node = infra["app/appsettings.bicep"].get("var", var).value
    return bicep.properties(node)


def all_settings(infra: Any, bicep: Any) -> set[str]:
    keys: set[str] = set()
    for var in infra["app/appsettings.bicep"].declarations("var"):
        keys |= bicep.object_keys(var.value)
    return keys


def test_site_config_holds_only_what_flex_consumption_supports(infra: Any, bicep: Any) -> None:
    site_config = bicep.properties(site(infra, bicep)["siteConfig"])
    assert set(site_config) == SITE_CONFIG_USED
    everywhere = bicep.object_keys(infra["app/api.bicep"].get("resource", "site").node)
    assert not everywhere & FLEX_UNSUPPORTED_SITE_CONFIG, everywhere & FLEX_UNSUPPORTED_SITE_CONFIG


def test_runtime_and_scale_live_in_function_app_config(infra: Any, bicep: Any) -> None:
    flex = bicep.properties(site(infra, bicep)["functionAppConfig"])
    assert set(flex) == {"deployment", "scaleAndConcurrency", "runtime"}
    assert bicep.literal(bicep.properties(flex["runtime"])["name"]) == "python"


def test_ftp_and_basic_auth_publishing_are_off_without_site_config(infra: Any, bicep: Any) -> None:
    api = infra["app/api.bicep"]
    policies = {}
    for resource in api.declarations("resource"):
        if resource.target == "basicPublishingCredentialsPolicies":
            body = bicep.properties(resource.body)
            policies[bicep.literal(body["name"])] = bicep.literal(body["properties"])
    assert policies == {"ftp": {"allow": False}, "scm": {"allow": False}}


def test_no_app_setting_the_plan_rejects(infra: Any, bicep: Any) -> None:
    settings = all_settings(infra, bicep)
    assert not settings & FLEX_UNSUPPORTED_APP_SETTINGS, settings & FLEX_UNSUPPORTED_APP_SETTINGS


def test_host_storage_uses_the_blob_service_uri_of_the_identity(infra: Any, bicep: Any) -> None:
    platform = settings_object(infra, bicep, "platformConfig")
    assert "AzureWebJobsStorage__accountName" not in platform
    assert "AzureWebJobsStorage" not in platform, "a connection string would carry a key"
    uri = platform["AzureWebJobsStorage__blobServiceUri"]
    assert bicep.text(uri) == "storage.properties.primaryEndpoints.blob"
    storage = infra["app/appsettings.bicep"].get("resource", "storage")
    assert storage.target.startswith("Microsoft.Storage/storageAccounts@")
    assert bicep.text(bicep.properties(storage.body)["name"]) == "storageAccountName"
    assert bicep.literal(platform["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert bicep.text(platform["AzureWebJobsStorage__clientId"]) == "identityClientId"


def test_every_storage_service_the_host_uses_has_its_role(infra: Any, bicep: Any) -> None:
    rbac = infra["app/rbac.bicep"]
    granted = {bicep.literal(v.value) for v in rbac.declarations("var")}
    used = {
        key.removeprefix("AzureWebJobsStorage__").removesuffix("ServiceUri")
        for key in all_settings(infra, bicep)
        if key.startswith("AzureWebJobsStorage__") and key.endswith("ServiceUri")
    }
    assert used == {"blob"}, "an HTTP-only app needs blobs only (keys, leases)"
    for service in used:
        assert STORAGE_SERVICE_ROLES[service] in granted, f"no role for the {service} service"
