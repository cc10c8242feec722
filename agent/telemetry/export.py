"""Sends spans to Application Insights: the Azure Monitor OpenTelemetry distro
(`azure-monitor-opentelemetry`), configured once per process, authenticated with Microsoft Entra
ID.

`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`ClientId=<id>;Authorization=AAD`, set by Bicep)
becomes a `ManagedIdentityCredential` for that user-assigned identity; the resource accepts
nothing else (its local auth is off). Only traces are configured: the Functions host already
ships the worker's logs and its own metrics to the same resource, so the distro's log and metric
pipelines would only duplicate them. Its instrumentations stay on, so Azure SDK (Cosmos DB, AI
Search) and HTTP client calls appear as dependencies too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from agent.settings import PlatformSettings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_configured = False


def entra_credential(authentication_string: str) -> Any | None:
    """The credential an `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for, or None.

    `Authorization=AAD` selects Entra ID: the managed identity `ClientId` names (the
    system-assigned one when it names none). Anything else (empty, malformed): None, and the
    exporter sends the instrumentation key only, which a resource with local auth off refuses.
    """
    pairs: dict[str, str] = {}
    for part in authentication_string.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip().lower()] = value.strip()
    if pairs.get("authorization", "").upper() != "AAD":
        if authentication_string.strip():
            log.warning("APPLICATIONINSIGHTS_AUTHENTICATION_STRING does not say "
                        "Authorization=AAD; telemetry is sent without an Entra ID token")
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = pairs.get("clientid") or None
    return ManagedIdentityCredential(client_id=client_id)


def configure_azure_monitor_once(platform: PlatformSettings) -> None:
    """Install the Azure Monitor tracer provider and exporter (first call in the process)."""
    global _configured
    with _lock:
        if _configured:
            return
        from azure.monitor.opentelemetry import configure_azure_monitor

        options: dict[str, Any] = {
            "connection_string": platform.applicationinsights_connection_string,
            "disable_logging": True,
            "disable_metrics": True,
        }
        credential = entra_credential(platform.applicationinsights_authentication_string)
        if credential is not None:
            options["credential"] = credential
        configure_azure_monitor(**options)
        _configured = True
        log.info("telemetry: spans go to Application Insights (%s)",
                 "Entra ID" if credential is not None else "instrumentation key only")
