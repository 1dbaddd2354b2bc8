"""The tracer provider: sampler, batching with drop counting, and the processors otel-kit adds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from otel_kit.config.settings import Limits, Settings
from otel_kit.providers import globals as provider_globals
from otel_kit.providers.accounting import ExportStats, OncePerMinuteFilter

_truncation_filter = OncePerMinuteFilter()


def quiet_truncation_warnings() -> None:
    """The SDK warns on every value it truncates: with a long header on every request, once per request."""
    logger = logging.getLogger("opentelemetry.attributes")
    if _truncation_filter not in logger.filters:
        logger.addFilter(_truncation_filter)


def build_span_limits(limits: Limits) -> SpanLimits:
    """Every field explicit: the SDK reads (and raises on) the OTEL_*_LIMIT variables only for unset ones."""
    return SpanLimits(
        max_attributes=limits.attribute_count,
        max_events=limits.span_event_count,
        max_links=limits.span_link_count,
        max_span_attributes=limits.span_attribute_count,
        max_event_attributes=limits.event_attribute_count,
        max_link_attributes=limits.link_attribute_count,
        # events and links use the global length, spans their own
        max_attribute_length=limits.attribute_value_length,
        max_span_attribute_length=limits.span_attribute_value_length,
    )


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
    quiet_truncation_warnings()
    provider = provider_globals.built(
        TracerProvider(
            resource=resource,
            sampler=build_sampler(settings.sample_ratio),
            shutdown_on_exit=False,
            span_limits=build_span_limits(settings.limits),
        )
    )
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
