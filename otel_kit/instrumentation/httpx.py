"""httpx: the contrib client instrumentor (CLIENT spans, trace context on outgoing requests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_kit.instrumentation import httpclients
from otel_kit.instrumentation._registry import Integration, contrib_requirement

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry


def _install(telemetry: Telemetry) -> None:
    httpclients.install("httpx", telemetry.tracer_provider, telemetry.meter_provider)


INTEGRATION = Integration(
    name="httpx",
    library="httpx",
    extra="httpx",
    requires=("httpx>=0.24,<1", contrib_requirement("httpx")),
    instrumentor="opentelemetry.instrumentation.httpx:HTTPXClientInstrumentor",
    install=_install,
    uninstall=lambda: httpclients.uninstall("httpx"),
    summary="CLIENT span per request, trace context propagated, client duration metric",
)
