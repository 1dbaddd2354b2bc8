"""OTLP exporters that can never hurt the application and never lose what could be kept.

Each exporter scrubs secrets, encodes the batch to OTLP protobuf and hands the bytes to the
signal's :class:`~otel_kit.export.outbox.Outbox`, which delivers them in order, retries through
outages within a memory bound (optionally spilling to disk) and counts what it must drop. The
SDK's batch threads therefore never wait on the network, and ``export()`` never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import OTLPMetricExporterMixin
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_kit.config.settings import Settings
from otel_kit.export import transport
from otel_kit.export.outbox import ByteBudget, Outbox, RateLimitedWarning, Spool
from otel_kit.providers.accounting import WARN_INTERVAL_SECONDS, ExportStats, OncePerMinuteFilter
from otel_kit.redaction.scrubbing import Scrubber

__all__ = [
    "WARN_INTERVAL_SECONDS", "Delivery", "ExportStats", "OtlpLogExporter", "OtlpMetricExporter", "OtlpSpanExporter",
    "RateLimitedWarning", "delivery", "observe_delivery",
]

_log = logging.getLogger("otel_kit.export")
_SIGNAL_NAMES = {"TRACES": "spans", "METRICS": "metric points", "LOGS": "log records"}
_STATS_KEYS = {"TRACES": "spans", "METRICS": "metrics", "LOGS": "logs"}
# Shares of export_buffer_mb: spans are the bulk; metric batches are small and cumulative.
_SHARES = {"TRACES": 0.5, "LOGS": 0.35, "METRICS": 0.15}


@dataclass
class Delivery:
    """The outboxes of one configuration, so ``shutdown()`` can bound and account for them together."""

    outboxes: dict[str, Outbox]
    budgets: dict[str, ByteBudget]

    def set_deadline(self, deadline: float) -> None:
        for outbox in self.outboxes.values():
            outbox.set_deadline(deadline)

    def flush(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        return all(outbox.flush(max(end - time.monotonic(), 0.0)) for outbox in self.outboxes.values())

    def close(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for outbox in self.outboxes.values():
            outbox.close(max(end - time.monotonic(), 0.0))

    def abandon(self) -> None:
        for outbox in self.outboxes.values():
            outbox.abandon()

    def pending(self) -> dict[str, int]:
        return {signal: outbox.pending() for signal, outbox in self.outboxes.items()}


def observe_delivery(meter: Any, stats: dict[str, ExportStats], current: Delivery | None) -> None:
    """otel-kit's own export health as metrics, so an alert can see losses without SDK internals.

    ``otel_kit.export.items`` counts spans, log records and metric points by ``otel_kit.signal``
    and ``otel_kit.outcome`` (exported, dropped, retried, spooled); ``otel_kit.export.pending``
    is what waits in the retry buffer. Drops recorded while the collector is down arrive with the
    rest when it is back (they wait in the same buffer).
    """
    from opentelemetry.metrics import CallbackOptions, Observation

    signals = {"spans": "TRACES", "logs": "LOGS", "metrics": "METRICS"}

    def items(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(count, {"otel_kit.signal": name, "otel_kit.outcome": outcome})
            for name, counters in stats.items()
            for outcome, count in counters.as_dict().items()
            if outcome != "failed_exports"
        ]

    def pending(options: CallbackOptions) -> list[Observation]:
        waiting = current.pending() if current is not None else {}
        return [Observation(waiting.get(signal, 0), {"otel_kit.signal": name}) for name, signal in signals.items()]

    meter.create_observable_counter(
        "otel_kit.export.items", callbacks=[items], unit="{item}",
        description="Telemetry items by signal and outcome: exported, dropped (lost for good), retried, spooled to disk",
    )
    meter.create_observable_gauge(
        "otel_kit.export.pending", callbacks=[pending], unit="{item}", description="Telemetry items waiting in the retry buffer",
    )


def delivery(settings: Settings, stats: dict[str, ExportStats]) -> Delivery:
    """One outbox per OTLP signal of ``settings``, sharing the retry buffer's memory bound."""
    enabled = [signal for signal in _SHARES if getattr(settings, signal.lower()) and settings.signal_exporter(signal) == "otlp"]
    total = sum(_SHARES[signal] for signal in enabled) or 1.0
    # Each signal has its own share of the bound, so a flood of spans cannot starve the metrics
    # (which would then hide the very drops they report).
    budgets = {signal: ByteBudget(int(settings.export_buffer_mb * (1 << 20) * _SHARES[signal] / total)) for signal in enabled}
    outboxes: dict[str, Outbox] = {}
    for signal in enabled:
        key = _STATS_KEYS[signal]
        budget = budgets[signal]
        endpoint = settings.signal_endpoint(signal)
        spool = None
        if settings.export_spool_dir:
            try:
                spool = Spool(settings.export_spool_dir, signal, int(settings.export_spool_mb * (1 << 20)))
            except OSError as exc:
                _log.warning("otel-kit: cannot use the spool directory %s (%s); keeping the retry buffer in memory only", settings.export_spool_dir, exc)
        send = transport.factory(
            endpoint, settings.signal_protocol(signal), signal, headers=settings.signal_headers(signal), insecure=settings.insecure,
        )
        outbox = Outbox(_SIGNAL_NAMES[signal], endpoint, send, stats[key], export_timeout=settings.export_timeout, budget=budget, spool=spool)
        if spool is not None and spool.oldest() is not None:
            outbox.start()  # batches left by an earlier process: send them now
        outboxes[signal] = outbox
    return Delivery(outboxes, budgets)


class _Encoder:
    """Scrub, encode and queue; any failure is counted as dropped, never raised."""

    def __init__(self, outbox: Outbox, scrubber: Scrubber | None) -> None:
        self.outbox = outbox
        self._scrubber = scrubber
        self._warning = RateLimitedWarning()

    def queue(self, items: Any, count: int, scrub: Any, encode: Any) -> bool:
        try:
            if self._scrubber is not None:
                scrub(items)
            payload = encode(items).SerializeToString()
        except Exception as exc:  # noqa: BLE001 - never export unscrubbed data: drop instead
            self.outbox.stats.add(dropped=count, failed=1)
            self._warning.warn("otel-kit: could not prepare %d %s for export (%s: %s); dropped", count, self.outbox.name, type(exc).__name__, exc)
            return False
        self.outbox.put(payload, count)
        return True


class OtlpSpanExporter(SpanExporter):
    def __init__(self, outbox: Outbox, scrubber: Scrubber | None) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self._encoder = _Encoder(outbox, scrubber)
        self._encode = encode_spans
        self._scrubber = scrubber

    @property
    def outbox(self) -> Outbox:
        return self._encoder.outbox

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        scrub = self._scrubber.spans if self._scrubber is not None else None
        ok = self._encoder.queue(spans, len(spans), scrub, self._encode)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        self.outbox.close(timeout_millis / 1000)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.outbox.flush(timeout_millis / 1000)


class OtlpLogExporter(LogRecordExporter):
    def __init__(self, outbox: Outbox, scrubber: Scrubber | None) -> None:
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

        self._encoder = _Encoder(outbox, scrubber)
        self._encode = encode_logs
        self._scrubber = scrubber

    @property
    def outbox(self) -> Outbox:
        return self._encoder.outbox

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        scrub = self._scrubber.logs if self._scrubber is not None else None
        ok = self._encoder.queue(batch, len(batch), scrub, self._encode)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        self.outbox.close(timeout_millis / 1000)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.outbox.flush(timeout_millis / 1000)


class OtlpMetricExporter(MetricExporter, OTLPMetricExporterMixin):
    def __init__(self, outbox: Outbox) -> None:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        # The SDK exporters' own reading of OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE and
        # OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION, so both behave alike.
        self._common_configuration()
        self._encoder = _Encoder(outbox, None)
        self._encode = encode_metrics

    @property
    def outbox(self) -> Outbox:
        return self._encoder.outbox

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        points = sum(
            len(metric.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        )
        if not points:
            return MetricExportResult.SUCCESS
        ok = self._encoder.queue(metrics_data, points, None, self._encode)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.outbox.close(timeout_millis / 1000)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.outbox.flush(timeout_millis / 1000)


# Loggers of the SDK and exporters that repeat the same failure on every batch.
NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
)


_noise_filter = OncePerMinuteFilter()


def quiet_noisy_loggers() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if _noise_filter not in logger.filters:
            logger.addFilter(_noise_filter)
