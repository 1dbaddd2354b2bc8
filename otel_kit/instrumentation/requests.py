"""requests: the contrib client instrumentor (CLIENT spans, trace context on outgoing requests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_kit.instrumentation import httpclients
from otel_kit.instrumentation._registry import Integration, contrib_requirement

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry


def _install(telemetry: Telemetry) -> None:
    httpclients.install("requests", telemetry.tracer_provider, telemetry.meter_provider)


INTEGRATION = Integration(
    name="requests",
    library="requests",
    extra="requests",
    requires=("requests>=2.28", contrib_requirement("requests")),
    instrumentor="opentelemetry.instrumentation.requests:RequestsInstrumentor",
    install=_install,
    uninstall=lambda: httpclients.uninstall("requests"),
    summary="CLIENT span per request, trace context propagated, client duration metric",
)
