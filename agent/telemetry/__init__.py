"""Telemetry of turns: OpenTelemetry spans named by the GenAI semantic conventions, exported to
Application Insights.

`start` decides once per bot: with `APPLICATIONINSIGHTS_CONNECTION_STRING` set it configures the
Azure Monitor distro (`agent.telemetry.export`) and returns a `TurnTracer`; when the process
already has an OpenTelemetry SDK tracer provider (the Functions worker's own Azure Monitor
set-up with PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY, or a test's) it uses that one and
configures nothing; otherwise it returns None and nothing of OpenTelemetry is imported. This
module itself imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from agent.settings import PlatformSettings, Settings

if TYPE_CHECKING:
    from agent.telemetry.tracer import TurnTracer


def sdk_provider_installed() -> bool:
    """Whether an OpenTelemetry SDK tracer provider is already the global one."""
    if "opentelemetry.sdk.trace" not in sys.modules:
        return False  # no SDK loaded, so none installed (and nothing imported to find out)
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


def start(settings: Settings, platform: PlatformSettings) -> TurnTracer | None:
    """The turn tracer, with export configured if needed; None when telemetry is off."""
    if not sdk_provider_installed():
        if not platform.applicationinsights_connection_string:
            return None
        from agent.telemetry.export import configure_azure_monitor_once

        configure_azure_monitor_once(platform)
    from agent.telemetry.tracer import TurnTracer

    return TurnTracer(settings)
