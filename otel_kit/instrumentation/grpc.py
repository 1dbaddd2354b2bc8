"""gRPC: the contrib client and server instrumentors, sync and asyncio, under one name.

OTLP export RPCs (``opentelemetry.proto.collector.*``, otel-kit's own export and any collector
in the process) are filtered out on both sides, whichever thread sends them: telemetry never
traces its own delivery.
SERVER spans feed the health analysis (keyed by the RPC's span name when there is no HTTP route).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation._registry import Integration, contrib_requirement

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

_CLASSES = ("GrpcInstrumentorClient", "GrpcInstrumentorServer", "GrpcAioInstrumentorClient", "GrpcAioInstrumentorServer")
_active: list[Any] = []


OTLP_SERVICES = "opentelemetry.proto.collector."


def install(telemetry: Telemetry) -> None:
    module = importlib.import_module("opentelemetry.instrumentation.grpc")
    filters = importlib.import_module("opentelemetry.instrumentation.grpc.filters")
    not_otlp = filters.negate(filters.service_prefix(OTLP_SERVICES))
    for name in _CLASSES:
        instrumentor = getattr(module, name)(filter_=not_otlp)
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
            _active.append(instrumentor)


def uninstall() -> None:
    while _active:
        try:
            _active.pop().uninstrument()
        except Exception:  # noqa: BLE001
            pass


INTEGRATION = Integration(
    name="grpc",
    library="grpc",
    extra="grpc",
    requires=(contrib_requirement("grpc"),),
    instrumentor="opentelemetry.instrumentation.grpc:GrpcInstrumentorClient",
    install=install,
    uninstall=uninstall,
    replaces=("grpc_client", "grpc_server", "grpc_aio_client", "grpc_aio_server"),
    # grpcio comes with otel-kit's own OTLP/gRPC exporter: its presence says nothing about the app
    announce_gap=False,
    summary="CLIENT and SERVER spans (sync and asyncio), health from server spans",
)
