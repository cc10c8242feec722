"""Easy Auth in the deployment: off by default; when on, App Service Authentication with
Microsoft Entra ID in front of the app (authsettingsV2), AUTH_MODE=easyauth for the app, the
managed identity as the sign-in credential, and exactly the app's anonymous routes reachable
without signing in."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from api.routes import ROUTES

IDENTITY = "identity-client-id"


def _auth_settings(infra: Any, bicep: Any) -> dict[str, Any]:
    resource = infra["app/auth.bicep"].get("resource", "authSettings")
    assert resource.target.startswith("Microsoft.Web/sites/config@")
    return bicep.properties(resource.body)


def test_sign_in_is_off_by_default_and_a_parameter_turns_it_on(infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    assert main.get("param", "authEnabled").default is False
    module = main.get("module", "auth")
    assert module.target == "app/auth.bicep"
    assert bicep.text(module.value).startswith("if (authEnabled)")
    params = json.loads((bicep.infra_dir / "main.parameters.json").read_text())["parameters"]
    assert params["authEnabled"]["value"] == "${AUTH_ENABLED=false}"
    assert params["authClientId"]["value"] == "${AUTH_CLIENT_ID=}"


@pytest.mark.parametrize(("enabled", "expected"), [
    (False, {"AUTH_MODE": "none"}),
    (True, {"AUTH_MODE": "easyauth", "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID": IDENTITY,
            "WEBSITE_AUTH_AAD_ALLOWED_TENANTS": "tenant-1"}),
])
def test_the_app_identifies_users_exactly_when_easy_auth_is_on(
        infra: Any, bicep: Any, enabled: bool, expected: dict[str, str]) -> None:
    settings = infra["app/appsettings.bicep"]
    value = bicep.evaluate(settings, settings.get("var", "authConfig").value,
                           {"authEnabled": enabled, "identityClientId": IDENTITY,
                            "authTenantId": "tenant-1"})
    assert value == expected
    passed = bicep.properties(bicep.properties(
        infra["main.bicep"].get("module", "appSettings").body)["params"])
    assert bicep.text(passed["authEnabled"]) == "authEnabled"
    assert "authConfig" in bicep.text(settings.get("output", "values").value)


def test_turning_it_on_without_an_app_registration_stops_the_deployment(
        infra: Any, bicep: Any) -> None:
    main = infra["main.bicep"]
    client = main.get("var", "authClient").value
    with pytest.raises(bicep.BicepFail, match="AUTH_CLIENT_ID"):
        bicep.evaluate(main, client, {"authEnabled": True, "authClientId": ""})
    assert bicep.evaluate(main, client, {"authEnabled": True, "authClientId": "app-1"}) == "app-1"
    assert bicep.evaluate(main, client, {"authEnabled": False, "authClientId": ""}) == ""


def test_easy_auth_answers_401_with_entra_id_and_the_identity_as_credential(
        infra: Any, bicep: Any) -> None:
    body = _auth_settings(infra, bicep)
    assert bicep.literal(body["name"]) == "authsettingsV2"
    props = bicep.properties(body["properties"])
    assert bicep.literal(bicep.properties(props["platform"])["enabled"]) is True
    validation = bicep.properties(props["globalValidation"])
    assert bicep.literal(validation["requireAuthentication"]) is True
    assert bicep.literal(validation["unauthenticatedClientAction"]) == "Return401"
    aad = bicep.properties(bicep.properties(props["identityProviders"])["azureActiveDirectory"])
    assert bicep.literal(aad["enabled"]) is True
    registration = bicep.properties(aad["registration"])
    assert bicep.text(registration["clientId"]) == "clientId"
    assert "/v2.0" in bicep.text(registration["openIdIssuer"])
    # No client secret: the setting it names holds the managed identity's client id.
    secret_setting = bicep.literal(registration["clientSecretSettingName"])
    assert secret_setting == "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"
    settings = infra["app/appsettings.bicep"]
    on = bicep.evaluate(settings, settings.get("var", "authConfig").value,
                        {"authEnabled": True, "identityClientId": IDENTITY, "authTenantId": "t"})
    assert on[secret_setting] == IDENTITY
    audiences = bicep.text(bicep.properties(aad["validation"])["allowedAudiences"])
    assert "api://${clientId}" in audiences


def test_exactly_the_anonymous_routes_are_reachable_without_signing_in(
        infra: Any, bicep: Any) -> None:
    props = bicep.properties(_auth_settings(infra, bicep)["properties"])
    validation = bicep.properties(props["globalValidation"])
    assert bicep.text(validation["excludedPaths"]) == "excludedPaths"
    excluded = infra["app/auth.bicep"].get("param", "excludedPaths").default

    def reachable(path: str) -> bool:
        concrete = path.replace("{name}", "chat.js").replace("{thread_id}", "t-1")
        return any(fnmatch.fnmatchcase(concrete, pattern) for pattern in excluded)

    for route in ROUTES:
        assert reachable(route.path) == (route.auth == "anonymous"), route.path
