"""Offline syntax checks of the deployment: every .bicep file, main.parameters.json, azure.yaml.

The tree-sitter Bicep grammar proves the files parse; it does not type-check them (that needs
`az bicep build`, see docs/deploy.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
AVM_PINNED = re.compile(r"br/public:avm/(res|ptn|utl)/[a-z0-9/-]+:\d+\.\d+\.\d+")
BICEP_FILES = sorted(INFRA_DIR.rglob("*.bicep"))
EXPECTED_FILES = {
    "main.bicep",
    "app/api.bicep",
    "app/appsettings.bicep",
    "app/rbac.bicep",
    "modules/cosmos.bicep",
    "modules/openai.bicep",
    "modules/openai-access.bicep",
    "modules/search.bicep",
}


def test_expected_bicep_files_exist() -> None:
    found = {f.relative_to(INFRA_DIR).as_posix() for f in BICEP_FILES}
    assert found >= EXPECTED_FILES, f"missing: {sorted(EXPECTED_FILES - found)}"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA_DIR).as_posix())
def test_bicep_file_parses(path: Any, bicep: Any) -> None:
    problems = bicep.syntax_problems(bicep.parse(path.read_bytes()))
    rel = path.relative_to(REPO_ROOT)
    assert not problems, "\n".join(f"{rel}:{line}: {what}" for line, what in problems)


def test_checker_reports_broken_bicep_with_line(bicep: Any) -> None:
    broken = b"param ok string\nvar a = {\n  b: 'c'\nvar d = [1, 2\n"
    problems = bicep.syntax_problems(bicep.parse(broken))
    assert problems
    assert {line for line, _ in problems} <= {2, 3, 4}


def test_local_modules_resolve_and_registry_modules_are_pinned(infra: Any) -> None:
    for bicep in infra.files.values():
        for module in bicep.declarations("module"):
            target = module.target
            if target.startswith("br/public:"):
                assert AVM_PINNED.fullmatch(target), f"{bicep.rel}: unpinned {target}"
            else:
                assert infra.resolve_module(bicep, module) is not None, (
                    f"{bicep.rel}: module {module.name} points at a missing file {target}"
                )


def test_parameters_json_is_valid_and_matches_main(infra: Any) -> None:
    data = json.loads((INFRA_DIR / "main.parameters.json").read_text())
    params = data["parameters"]
    declared = infra["main.bicep"].names("param")
    assert set(params) <= declared, f"unknown parameters: {sorted(set(params) - declared)}"
    for required in ("environmentName", "location", "principalId"):
        assert required in params
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    assert params["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_main_parameters_without_defaults_are_supplied(infra: Any) -> None:
    data = json.loads((INFRA_DIR / "main.parameters.json").read_text())
    main = infra["main.bicep"]
    required = {p.name for p in main.declarations("param") if len(p.node.named_children) < 3}
    assert required <= set(data["parameters"]), sorted(required - set(data["parameters"]))


def test_azure_yaml_declares_the_function_service(infra: Any) -> None:
    config = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())
    services = config["services"]
    functions = {name: s for name, s in services.items() if s.get("host") == "function"}
    assert list(functions) == ["api"]
    api = functions["api"]
    assert api["language"] in {"python", "py"}
    assert (REPO_ROOT / api["project"]).resolve() == REPO_ROOT
    assert config["infra"]["path"] == "infra"
    # azd finds the app by this tag and reads SERVICE_API_* outputs.
    assert "'azd-service-name': 'api'" in infra["main.bicep"].source.decode()
    assert "SERVICE_API_NAME" in infra["main.bicep"].names("output")


AZD_VALUE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:=(?P<default>[^}]*))?\}")


def azd_parameters() -> dict[str, tuple[str, str | None]]:
    """Bicep parameter -> (azd environment variable, its default in main.parameters.json)."""
    data = json.loads((INFRA_DIR / "main.parameters.json").read_text())
    found = {}
    for param, entry in data["parameters"].items():
        match = AZD_VALUE.fullmatch(entry["value"])
        assert match, f"{param}: not a single ${{VAR}} or ${{VAR=default}}: {entry['value']!r}"
        found[param] = (match["name"], match["default"])
    return found


def test_parameters_json_defaults_equal_the_bicep_defaults(infra: Any) -> None:
    # A default in main.parameters.json wins over the one in main.bicep, so the two must agree
    # (the chat model once stayed on a retired model here after main.bicep moved on).
    main = infra["main.bicep"]
    for param, (variable, default) in azd_parameters().items():
        if default is None:
            continue
        declared = main.get("param", param)
        if declared.type_name == "bool":
            assert default in {"true", "false"}, variable
            assert (default == "true") is declared.default, variable
        elif declared.type_name == "int":
            assert int(default) == declared.default, variable
        else:
            assert default == declared.default, variable


def test_outputs_do_not_feed_back_into_other_parameters(infra: Any, bicep: Any) -> None:
    # azd writes every output into the environment it reads ${VAR} from on the next
    # `azd provision`: an output may share a name with a parameter's variable only when it
    # echoes that very parameter (an effective value, like -1 for "never expire", would
    # otherwise come back as the input).
    main = infra["main.bicep"]
    outputs = {o.name: bicep.text(o.value) for o in main.declarations("output")}
    for param, (variable, _) in azd_parameters().items():
        if variable in outputs:
            assert outputs[variable] == param, f"output {variable} feeds parameter {param}"
