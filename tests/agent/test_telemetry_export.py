"""When telemetry is on, and what it costs when it is off: `agent.telemetry.start` in fresh
interpreters (subprocesses), since configuring OpenTelemetry is once per process.

- `APPLICATIONINSIGHTS_CONNECTION_STRING` unset: `import function_app` loads neither the
  OpenTelemetry SDK nor the Azure Monitor distro nor our telemetry code (FastAPI imports the
  OpenTelemetry API, a dependency of its own), and after a whole turn neither the distro nor
  our span code is loaded either (langsmith, a langchain-core dependency, imports the SDK's
  tracer module by itself when the SDK is installed; nothing of ours runs).
- Set: the distro's `configure_azure_monitor` is called once, with the connection string, a
  `ManagedIdentityCredential` for the client id of `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`,
  and only the trace pipeline; a turn then records spans.
- A tracer provider already installed (the Functions worker's own Azure Monitor set-up): used
  as it is, the distro is not configured a second time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.telemetry.export import entra_credential
from standins.processes import ROOT, server_env
from tests.conftest import CORPUS

CONNECTION = ("InstrumentationKey=00000000-0000-0000-0000-000000000001;"
              "IngestionEndpoint=https://ingest.invalid/")
CLIENT_ID = "7e5f0b2a-0000-4000-8000-00000000c11d"

RUN_A_TURN = r"""
import asyncio, json, sys
{prelude}
from agent.settings import get_settings
from agent.bot import build_bot
from agent.turns import TurnRequest

async def main():
    bot = await build_bot(get_settings())
    try:
        answer = await bot.answer(TurnRequest("t-1", "r-1", "@docsearch how far is the Moon?"))
    finally:
        await bot.aclose()
    loaded = sorted({{m.split(".")[0] + ("." + m.split(".")[1] if m.count(".") else "")
                      for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor",
                                                            "agent.telemetry"))}})
    print(json.dumps({{"tracer": bot.tracer is not None, "agent": answer.agent,
                       "loaded": loaded, "extra": globals().get("EXTRA", {{}})}}))

asyncio.run(main())
"""

RECORD_CONFIGURE = r"""
import azure.identity
import azure.monitor.opentelemetry as distro

class RecordingCredential(azure.identity.ManagedIdentityCredential):
    def __init__(self, **kwargs):
        self.made_with = kwargs
        super().__init__(**kwargs)

azure.identity.ManagedIdentityCredential = RecordingCredential
CALLS = []

def configure_azure_monitor(**kwargs):
    # Recorded, then what the real one does minus the exporter: install an SDK tracer provider.
    CALLS.append({k: v for k, v in kwargs.items() if k != "credential"})
    credential = kwargs.get("credential")
    CALLS[-1]["credential"] = type(credential).__mro__[1].__name__
    CALLS[-1]["credential_kwargs"] = credential.made_with
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    global SPANS
    SPANS = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(provider)

distro.configure_azure_monitor = configure_azure_monitor

def _extra():
    spans = SPANS.get_finished_spans() if "SPANS" in globals() else []
    return {"calls": CALLS, "spans": sorted(s.name for s in spans)}
"""

WORKER_PROVIDER = r"""
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
SPANS = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(provider)   # as the Functions worker's configure_azure_monitor does
import azure.monitor.opentelemetry as distro
CALLS = []
distro.configure_azure_monitor = lambda **kwargs: CALLS.append(sorted(kwargs))
def _extra():
    return {"calls": CALLS, "spans": sorted(s.name for s in SPANS.get_finished_spans())}
"""


def _run(tmp_path: Path, env: dict[str, str], prelude: str = "") -> dict[str, Any]:
    code = RUN_A_TURN.format(prelude=prelude)
    if prelude:  # report what the prelude recorded
        code = code.replace('globals().get("EXTRA", {})', "_extra()")
    full_env = server_env(tmp_path / "data", {"MODEL_PROVIDER": "offline",
                                              "DOCS_DIR": str(CORPUS), **env})
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_off_importing_function_app_loads_no_telemetry(tmp_path: Path) -> None:
    # (FastAPI itself imports the OpenTelemetry *API*, a dependency of it; not the SDK.)
    code = ("import sys, function_app\n"
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
            "'azure.monitor', 'agent.telemetry', 'agent.telemetry.usage'))))\n")
    env = server_env(tmp_path / "data", {})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_off_a_whole_turn_loads_neither_the_distro_nor_our_span_code(tmp_path: Path) -> None:
    result = _run(tmp_path, {})
    assert result["tracer"] is False and result["agent"] == "docsearch"
    loaded = set(result["loaded"])
    assert not {m for m in loaded if m.startswith(("azure.monitor", "agent.telemetry"))} - {
        "agent.telemetry"}, loaded  # the package's start() only, which decided "off"


def test_on_the_distro_is_configured_with_the_managed_identity(tmp_path: Path) -> None:
    result = _run(tmp_path, {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                             "APPLICATIONINSIGHTS_AUTHENTICATION_STRING":
                                 f"ClientId={CLIENT_ID};Authorization=AAD"},
                  prelude=RECORD_CONFIGURE)
    assert result["tracer"] is True
    [call] = result["extra"]["calls"]
    assert call == {"connection_string": CONNECTION, "disable_logging": True,
                    "disable_metrics": True, "credential": "ManagedIdentityCredential",
                    "credential_kwargs": {"client_id": CLIENT_ID}}
    spans = result["extra"]["spans"]
    assert "invoke_agent smartbot" in spans and "execute_tool search_documents" in spans
    assert "chat offline" in spans


def test_a_provider_already_installed_is_used_and_not_configured_again(tmp_path: Path) -> None:
    result = _run(tmp_path, {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION},
                  prelude=WORKER_PROVIDER)
    assert result["tracer"] is True
    assert result["extra"]["calls"] == []
    assert "invoke_agent smartbot" in result["extra"]["spans"]


@pytest.mark.parametrize(("value", "client_id"), [
    (f"ClientId={CLIENT_ID};Authorization=AAD", CLIENT_ID),
    (f"authorization=aad; clientid={CLIENT_ID}", CLIENT_ID),  # keys in any case, any order
    ("Authorization=AAD", None),  # the system-assigned identity
])
def test_the_authentication_string_names_the_managed_identity(
        value: str, client_id: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

    monkeypatch.setattr("azure.identity.ManagedIdentityCredential", Recorder)
    assert isinstance(entra_credential(value), Recorder)
    assert made == [{"client_id": client_id}]


@pytest.mark.parametrize("value", ["", "ClientId=abc", "Authorization=Basic;ClientId=abc",
                                   "garbage"])
def test_without_authorization_aad_there_is_no_credential(value: str) -> None:
    assert entra_credential(value) is None
