"""The tracer provider: sampler, batching with drop counting, and the processors otel-kit adds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from otel_kit.config.settings import Settings
from otel_kit.export.otlp import ExportStats


def build_sampler(ratio: float) -> Sampler:
    """Parent-based, so a sampled upstream request is never cut in half here."""
    if ratio >= 1.0:
        return ParentBased(ALWAYS_ON)
    if ratio <= 0.0:
        return ParentBased(ALWAYS_OFF)
    return ParentBased(TraceIdRatioBased(ratio))


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor that counts spans dropped because its queue was full."""

    def __init__(self, exporter: SpanExporter, stats: ExportStats, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self._stats = stats

    def on_end(self, span: Any) -> None:
        if not span.context.trace_flags.sampled:
            return
        try:
            queue = self._batch_processor._queue
            if len(queue) >= self._batch_processor._max_queue_size:
                self._stats.add(dropped=1)
        except AttributeError:  # SDK internals moved: counting is best effort, batching is not
            pass
        super().on_end(span)


def build_tracer_provider(
    settings: Settings,
    resource: Resource,
    *,
    exporter: SpanExporter | None,
    stats: ExportStats,
    processors: Sequence[SpanProcessor],
    meter_provider: MeterProvider | None,
) -> TracerProvider:
    provider = TracerProvider(resource=resource, sampler=build_sampler(settings.sample_ratio), shutdown_on_exit=False)
    # Analysis processors first: they see every span before it is queued for export.
    for processor in processors:
        provider.add_span_processor(processor)
    if exporter is not None:
        provider.add_span_processor(
            CountingBatchSpanProcessor(
                exporter,
                stats,
                schedule_delay_millis=settings.bsp_schedule_delay * 1000,
                max_queue_size=settings.bsp_max_queue_size,
                max_export_batch_size=min(settings.bsp_max_export_batch_size, settings.bsp_max_queue_size),
                meter_provider=meter_provider,
            )
        )
    if settings.console or settings.signal_exporter("TRACES") == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    return provider
