"""The meter provider: periodic export plus any extra readers (tests use an in-memory one)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otel_kit.config.settings import Settings
from otel_kit.providers import globals as provider_globals


def build_meter_provider(
    settings: Settings,
    resource: Resource,
    *,
    exporter: MetricExporter | None,
    readers: Sequence[MetricReader],
) -> MeterProvider:
    interval_ms = settings.metric_interval * 1000
    all_readers = list(readers)
    if exporter is not None:
        all_readers.append(
            PeriodicExportingMetricReader(
                exporter,
                export_interval_millis=interval_ms,
                export_timeout_millis=max(settings.export_timeout * 1000, 1000),
            )
        )
    if settings.console or settings.signal_exporter("METRICS") == "console":
        all_readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=interval_ms))
    return provider_globals.built(MeterProvider(resource=resource, metric_readers=all_readers, shutdown_on_exit=False))
