"""OTLP exporters wrapped so that exporting can never hurt the application.

The wrappers: build the real exporter lazily and again after ``fork()`` (a gRPC channel does not
survive a fork); scrub secrets; catch every exception; count what was exported and dropped; and
log a failure at most once a minute so an unreachable collector cannot flood the logs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_kit.config.settings import Settings
from otel_kit.export.scrubbing import Scrubber

_log = logging.getLogger("otel_kit.export")
WARN_INTERVAL_SECONDS = 60.0


@dataclass
class ExportStats:
    """Per-signal counters; ``dropped`` is telemetry lost to export failures or a full queue."""

    exported: int = 0
    failed_exports: int = 0
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, exported: int = 0, dropped: int = 0, failed: int = 0) -> None:
        with self._lock:
            self.exported += exported
            self.dropped += dropped
            self.failed_exports += failed

    def as_dict(self) -> dict[str, int]:
        return {"exported": self.exported, "dropped": self.dropped, "failed_exports": self.failed_exports}


class _RateLimitedWarning:
    """At most one warning per interval; the count of suppressed ones is reported next time."""

    def __init__(self, interval: float = WARN_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._last = -interval
        self._suppressed = 0
        self._lock = threading.Lock()

    def warn(self, message: str, *args: object) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        suffix = f" ({suppressed} similar failures suppressed)" if suppressed else ""
        _log.warning(message + suffix, *args)
        return True


class _Lazy:
    """Holds the real exporter; rebuilt on first use in a forked child."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._inner: Any = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._inner is None or self._pid != os.getpid():
            with self._lock:
                if self._inner is None or self._pid != os.getpid():
                    # The parent's exporter (and its gRPC channel) is unusable here; drop it unclosed.
                    self._inner = self._factory()
                    self._pid = os.getpid()
        return self._inner

    def existing(self) -> Any:
        return self._inner if self._pid == os.getpid() else None


class _Guard:
    def __init__(self, name: str, target: str, factory: Callable[[], Any], stats: ExportStats) -> None:
        self.name = name
        self.target = target
        self.stats = stats
        self._lazy = _Lazy(factory)
        self._warning = _RateLimitedWarning()
        self._shutdown = False

    def run(self, count: int, call: Callable[[Any], Any], success: Any) -> bool:
        if self._shutdown:
            self.stats.add(dropped=count)
            return False
        try:
            result = call(self._lazy.get())
        except Exception as exc:  # noqa: BLE001 - exporting must never raise into the SDK or the app
            result = exc
        if result == success:
            self.stats.add(exported=count)
            return True
        self.stats.add(dropped=count, failed=1)
        self._warning.warn(
            "otel-kit: could not export %d %s to %s (%s); %d dropped so far. Is the collector running?",
            count, self.name, self.target, _describe(result), self.stats.dropped,
        )
        return False

    def shutdown(self, timeout_millis: float) -> None:
        self._shutdown = True
        inner = self._lazy.existing()
        if inner is None:
            return
        try:
            try:
                inner.shutdown(timeout_millis=timeout_millis)
            except TypeError:  # an exporter whose shutdown takes no timeout
                inner.shutdown()
        except Exception:  # noqa: BLE001
            _log.debug("exporter shutdown failed", exc_info=True)

    def flush(self, timeout_millis: int) -> bool:
        inner = self._lazy.existing()
        if inner is None or not hasattr(inner, "force_flush"):
            return True
        try:
            return bool(inner.force_flush(timeout_millis))
        except Exception:  # noqa: BLE001
            return False


def _describe(result: object) -> str:
    if isinstance(result, Exception):
        return f"{type(result).__name__}: {result}"[:200]
    return str(getattr(result, "name", result))


class GuardedSpanExporter(SpanExporter):
    def __init__(self, factory: Callable[[], SpanExporter], target: str, stats: ExportStats, scrubber: Scrubber | None) -> None:
        self._guard = _Guard("spans", target, factory, stats)
        self._scrubber = scrubber

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._scrubber is not None:
            try:
                self._scrubber.spans(spans)
            except Exception:  # noqa: BLE001 - never export unscrubbed data: drop instead
                self._guard.stats.add(dropped=len(spans), failed=1)
                return SpanExportResult.FAILURE
        ok = self._guard.run(len(spans), lambda inner: inner.export(spans), SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        self._guard.shutdown(timeout_millis)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._guard.flush(timeout_millis)


class GuardedLogExporter(LogRecordExporter):
    def __init__(self, factory: Callable[[], LogRecordExporter], target: str, stats: ExportStats, scrubber: Scrubber | None) -> None:
        self._guard = _Guard("log records", target, factory, stats)
        self._scrubber = scrubber

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._scrubber is not None:
            try:
                self._scrubber.logs(batch)
            except Exception:  # noqa: BLE001
                self._guard.stats.add(dropped=len(batch), failed=1)
                return LogRecordExportResult.FAILURE
        ok = self._guard.run(len(batch), lambda inner: inner.export(batch), LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        self._guard.shutdown(timeout_millis)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._guard.flush(timeout_millis)


class GuardedMetricExporter(MetricExporter):
    def __init__(self, factory: Callable[[], MetricExporter], target: str, stats: ExportStats) -> None:
        probe = factory()
        super().__init__(
            preferred_temporality=probe._preferred_temporality,
            preferred_aggregation=probe._preferred_aggregation,
        )
        first: list[MetricExporter | None] = [probe]

        def reuse_then_build() -> MetricExporter:
            if first[0] is not None:
                built, first[0] = first[0], None
                return built
            return factory()

        self._guard = _Guard("metric batches", target, reuse_then_build, stats)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        points = sum(
            len(metric.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        )
        ok = self._guard.run(
            points, lambda inner: inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs), MetricExportResult.SUCCESS
        )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._guard.shutdown(timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._guard.flush(int(timeout_millis))


def _otlp_factories(settings: Settings, signal: str) -> Callable[[], Any]:
    """The real OTLP exporter constructor for one signal, honouring protocol and per-signal URLs."""
    endpoint = settings.signal_endpoint(signal)
    protocol = settings.signal_protocol(signal)
    headers = dict(settings.headers)
    timeout = settings.export_timeout
    insecure = settings.insecure if settings.insecure is not None else endpoint.startswith("http://")
    if protocol == "grpc":
        if signal == "TRACES":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpan

            return lambda: GrpcSpan(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
        if signal == "METRICS":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetric

            return lambda: GrpcMetric(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

        return lambda: GrpcLog(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
    try:
        if signal == "TRACES":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpan

            return lambda: HttpSpan(endpoint=endpoint, headers=headers, timeout=timeout)
        if signal == "METRICS":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetric

            return lambda: HttpMetric(endpoint=endpoint, headers=headers, timeout=timeout)
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog

        return lambda: HttpLog(endpoint=endpoint, headers=headers, timeout=timeout)
    except ImportError as exc:  # pragma: no cover - the http exporter is a core dependency
        raise ImportError("OTLP over HTTP needs opentelemetry-exporter-otlp-proto-http: pip install otel-kit") from exc


def span_exporter(settings: Settings, stats: ExportStats, scrubber: Scrubber | None) -> SpanExporter:
    return GuardedSpanExporter(_otlp_factories(settings, "TRACES"), settings.signal_endpoint("TRACES"), stats, scrubber)


def metric_exporter(settings: Settings, stats: ExportStats) -> MetricExporter:
    return GuardedMetricExporter(_otlp_factories(settings, "METRICS"), settings.signal_endpoint("METRICS"), stats)


def log_exporter(settings: Settings, stats: ExportStats, scrubber: Scrubber | None) -> LogRecordExporter:
    return GuardedLogExporter(_otlp_factories(settings, "LOGS"), settings.signal_endpoint("LOGS"), stats, scrubber)


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


class OncePerMinuteFilter(logging.Filter):
    """Lets each distinct message template through at most once per interval."""

    def __init__(self, interval: float = WARN_INTERVAL_SECONDS) -> None:
        super().__init__()
        self._interval = interval
        self._seen: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = now
        return True


_noise_filter = OncePerMinuteFilter()


def quiet_noisy_loggers() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if _noise_filter not in logger.filters:
            logger.addFilter(_noise_filter)
