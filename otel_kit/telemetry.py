"""``setup()``: one call that wires traces, metrics, logs, instrumentation, signals and analysis."""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_kit.config.settings import SPECS, ConfigError, Extensions, Settings, check_extensions, resolve
from otel_kit.export import exit_hooks, otlp
from otel_kit.export.otlp import Delivery, ExportStats
from otel_kit.instrumentation import _registry, _support
from otel_kit.instrumentation.logging import LoggingIntegration
from otel_kit.providers import active
from otel_kit.providers import globals as provider_globals
from otel_kit.providers.logs import build_logger_provider
from otel_kit.providers.metrics import build_meter_provider
from otel_kit.providers.resource import build_resource
from otel_kit.providers.traces import build_tracer_provider
from otel_kit.redaction.scrubbing import Scrubber

if TYPE_CHECKING:
    from otel_kit.analysis.health import HealthMonitor
    from otel_kit.analysis.processor import AnalysisProcessor
    from otel_kit.analysis.slow_queries import SlowQueryAnalyzer
    from otel_kit.signals.ai import AIMonitor
    from otel_kit.signals.security import SecurityMonitor
    from otel_kit.signals.security.guard import RequestGuard
    from otel_kit.signals.system import SystemMetrics

_log = logging.getLogger("otel_kit")
_lock = threading.RLock()
_warned_twice = False


class Telemetry:
    """What ``setup()`` configured: providers, handles for your own telemetry, flush and shutdown."""

    def __init__(self, settings: Settings, resource: Resource) -> None:
        self.settings = settings
        self.resource = resource
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.logger_provider: LoggerProvider | None = None
        self.stats: dict[str, ExportStats] = {"spans": ExportStats(), "metrics": ExportStats(), "logs": ExportStats()}
        self.instrumented: list[str] = []
        self.skipped: dict[str, str] = {}
        self.health: HealthMonitor | None = None
        self.slow_queries: SlowQueryAnalyzer | None = None
        self.analysis: AnalysisProcessor | None = None
        self.security: SecurityMonitor | None = None
        self.guard: RequestGuard | None = None
        """The security steps the integrations run (set with ``security``; they do not import the signal)."""
        self.ai: AIMonitor | None = None
        self.system: SystemMetrics | None = None
        self.fastapi_operation_spans = False
        self.delivery: Delivery | None = None
        self._logging = LoggingIntegration()
        self._internal_errors = 0
        self._closed = False
        tracer_provider: Any = trace.NoOpTracerProvider()
        meter_provider: Any = metrics.NoOpMeterProvider()
        self.tracer: trace.Tracer = tracer_provider.get_tracer("otel_kit")
        self.db_tracer: trace.Tracer = self.tracer
        self.meter: metrics.Meter = meter_provider.get_meter("otel_kit")
        self.logger = logging.getLogger(settings.service_name)

    # --- public API ------------------------------------------------------------------------

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export everything buffered; returns False if it did not finish within ``timeout`` seconds."""
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        return _bounded(lambda: self._flush_all(budget), budget, "otel-kit-flush")

    def shutdown(self, timeout: float | None = None) -> bool:
        """Export what was recorded and stop, within ``timeout`` seconds (default ``shutdown_timeout``).

        What cannot be delivered in time is spooled (when a spool directory is set) or counted in
        ``dropped()``; the call never takes longer than the budget, whatever the collector does.
        """
        with _lock:
            if self._closed:
                return True
            self._closed = True
            if active.state is self:
                active.state = None
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        if self.delivery is not None:
            self.delivery.set_deadline(time.monotonic() + budget)
        exit_hooks.forget(self)
        if self.health is not None:
            self.health.stop_checks()
        self._detach()
        finished = _bounded(lambda: self._shutdown_all(budget), budget, "otel-kit-shutdown")
        if self.delivery is not None:
            # Whatever the budget left unsent is accounted for now, not by a thread that may
            # outlive the interpreter.
            self.delivery.abandon()
        provider_globals.release(self.tracer_provider, self.meter_provider, self.logger_provider)
        return finished

    @property
    def closed(self) -> bool:
        return self._closed

    def dropped(self) -> dict[str, int]:
        """Telemetry lost for good so far, per signal: full queues, refused batches, the retry
        buffer's overflow and whatever ``shutdown()`` could not deliver or spool."""
        return {name: stats.dropped for name, stats in self.stats.items()}

    def pending(self) -> dict[str, int]:
        """Telemetry waiting in the retry buffer to be (re)sent, per signal."""
        if self.delivery is None:
            return {name: 0 for name in self.stats}
        waiting = self.delivery.pending()
        return {name: waiting.get(signal, 0) for name, signal in (("spans", "TRACES"), ("metrics", "METRICS"), ("logs", "LOGS"))}

    def describe(self) -> str:
        """A readable summary of what was configured and what was exported or dropped."""
        s = self.settings
        lines = [f"otel-kit telemetry for service {s.service_name!r}" + (" (disabled by OTEL_SDK_DISABLED)" if s.disabled else "")]
        rows: list[tuple[str, str]] = [
            ("resource", ", ".join(f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in sorted(self.resource.attributes.items()) if k.startswith(("service.", "deployment.")))),
        ]
        for signal, enabled, stats in (("traces", s.traces, "spans"), ("metrics", s.metrics, "metrics"), ("logs", s.logs, "logs")):
            if not enabled or s.disabled:
                rows.append((signal, "off"))
                continue
            exporter = s.signal_exporter(signal.upper())
            target = f"{exporter} {s.signal_protocol(signal.upper())} -> {s.signal_endpoint(signal.upper())}" if exporter == "otlp" else exporter
            counts = self.stats[stats].as_dict()
            waiting = self.pending()[stats]
            rows.append((signal, f"{target} | exported {counts['exported']}, dropped {counts['dropped']}" + (f", waiting to retry {waiting}" if waiting else "")))
        rows += [
            ("sampling", f"parent-based, ratio {s.sample_ratio:g}"),
            ("instrumented", ", ".join(self.instrumented) or "nothing"),
            ("not instrumented", ", ".join(f"{k} ({v})" for k, v in self.skipped.items()) or "-"),
            ("fastapi telemetry", s.fastapi_telemetry),
            ("analysis", (", ".join(n for n, on in (("health", self.health), ("slow queries", self.slow_queries)) if on) or "off")
             + (f" | {self.analysis.failures} spans not analysed (errors)" if self.analysis is not None and self.analysis.failures else "")),
            ("signals", ", ".join(n for n, on in (("security", self.security), ("ai", self.ai), ("system", self.system)) if on) or "off"),
            ("logging", f"level {s.log_level}, format {s.log_format or 'auto'}" + (f", file {s.log_file}" if s.log_file else "")),
            ("shutdown timeout", f"{s.shutdown_timeout:g} s"),
            ("retry buffer", f"{s.export_buffer_mb:g} MB in memory" + (f", spool {s.export_spool_dir} ({s.export_spool_mb:g} MB)" if s.export_spool_dir else ", no spool")),
        ]
        width = max(len(k) for k, _ in rows)
        lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"<Telemetry service={self.settings.service_name!r} closed={self._closed}>"

    # --- internals -------------------------------------------------------------------------

    def internal_error(self, where: str) -> None:
        """Record an exception swallowed to protect the application."""
        self._internal_errors += 1
        if self._internal_errors <= 3:
            _log.debug("otel-kit: internal error in %s", where, exc_info=True)

    def _flush_all(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is not None:
                provider.force_flush(int(max(deadline - time.monotonic(), 0.0) * 1000))
        if self.delivery is not None and not self.delivery.flush(max(deadline - time.monotonic(), 0.0)):
            raise TimeoutError("the collector did not take everything within the flush timeout")

    def _shutdown_all(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        # The meter provider's shutdown takes a final collection: the system metrics must still be
        # registered then, so they are closed after it.
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is None:
                continue
            remaining = max(deadline - time.monotonic(), 0.05)
            try:
                if isinstance(provider, MeterProvider):
                    provider.shutdown(timeout_millis=remaining * 1000)
                else:
                    provider.shutdown()
            except Exception:  # noqa: BLE001
                _log.debug("otel-kit: provider shutdown failed", exc_info=True)
        if self.system is not None:
            self.system.close()
        if self.ai is not None:
            self.ai.close()
        if self.delivery is not None:
            self.delivery.close(max(deadline - time.monotonic(), 0.0))

    def _detach(self) -> None:
        """Undo what was attached to shared objects (root logger, library patches)."""
        self._logging.uninstall()
        _registry.deactivate_all()


def _bounded(work: Callable[[], None], timeout: float, name: str) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``timeout``: a dead collector cannot hang us."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=run, name=name, daemon=True)
    try:
        worker.start()
    except RuntimeError:
        # Python >= 3.12 refuses new threads in atexit hooks; every step below is bounded by the
        # delivery deadline or its own timeout, so running it here still ends in time.
        run()
        return not errors
    worker.join(timeout)
    if worker.is_alive():
        _log.warning("otel-kit: %s did not finish within %.1f s; unsent telemetry is dropped", name, timeout)
        return False
    return not errors


current = active.current


def setup(
    service_name: str | None = None,
    *,
    service_version: str | None = None,
    environment: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    insecure: bool | None = None,
    sample_ratio: float | None = None,
    traces: bool | None = None,
    metrics: bool | None = None,
    logs: bool | None = None,
    console: bool | None = None,
    metric_interval: float | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    instrument: Iterable[str] | Mapping[str, bool] | str | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
    log_file: str | None = None,
    shutdown_timeout: float | None = None,
    export_timeout: float | None = None,
    export_buffer_mb: float | None = None,
    export_spool_dir: str | None = None,
    export_spool_mb: float | None = None,
    exporter: str | None = None,
    fastapi_telemetry: str | None = None,
    fastapi_operation_spans: bool | None = None,
    excluded_urls: Iterable[str] | str | None = None,
    system_metrics: bool | None = None,
    security: bool | None = None,
    security_enforce: bool | None = None,
    audit_key: str | None = None,
    health: bool | None = None,
    health_check_interval: float | None = None,
    slow_queries: bool | None = None,
    slow_query_ms: float | None = None,
    n_plus_one_threshold: int | None = None,
    capture_query_text: bool | None = None,
    ai_capture_content: bool | None = None,
    scrub: bool | None = None,
    additional_span_processors: Sequence[SpanProcessor] = (),
    additional_metric_readers: Sequence[MetricReader] = (),
    additional_log_processors: Sequence[LogRecordProcessor] = (),
) -> Telemetry:
    """Configure OpenTelemetry traces, metrics and logs for this service in one call.

    Every setting resolves as argument > ``OTEL_KIT_*`` variable > standard ``OTEL_*`` variable >
    default (see ``otel_kit.config.environment``). An invalid argument raises
    :class:`otel_kit.ConfigError`; an invalid environment variable warns and falls back.
    Calling ``setup()`` again returns the same :class:`Telemetry` (with one warning).
    """
    global _warned_twice
    arguments = {k: v for k, v in locals().items() if k in SPECS}
    # Everything is validated before anything is built: an invalid argument changes nothing.
    settings = resolve(arguments)
    extensions = check_extensions(
        fastapi_operation_spans=fastapi_operation_spans,
        additional_span_processors=additional_span_processors,
        additional_metric_readers=additional_metric_readers,
        additional_log_processors=additional_log_processors,
    )
    with _lock:
        running = active.state
        if running is not None and not running.closed:
            if not _warned_twice:
                _warned_twice = True
                warnings.warn(
                    "otel_kit.setup() was called again; returning the existing configuration "
                    "(call otel_kit.shutdown() first to reconfigure)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return running
        return _setup_all_or_nothing(settings, extensions)


def _setup_all_or_nothing(settings: Settings, extensions: Extensions) -> Telemetry:
    """Build, install and instrument; on any failure undo all of it before raising.

    A half-done setup would leave global providers, root-logger handlers, library patches or
    export threads behind, and a corrected second ``setup()`` could not take effect.
    """
    global _warned_twice
    telemetry: Telemetry | None = None
    with provider_globals.collecting() as built:
        try:
            telemetry = _build(
                settings,
                fastapi_operation_spans=extensions.fastapi_operation_spans,
                span_processors=extensions.span_processors,
                metric_readers=extensions.metric_readers,
                log_processors=extensions.log_processors,
            )
            active.state = telemetry
            _warned_twice = False
            _instrument(telemetry)
            if not settings.disabled:
                exit_hooks.register(telemetry)
        except BaseException as exc:
            _undo_setup(telemetry, built, settings.shutdown_timeout)
            error = _setting_error(exc, settings)
            if error is None:
                raise
            raise error from exc
    return telemetry


def _undo_setup(telemetry: Telemetry | None, built: list[Any], timeout: float) -> None:
    """Shut down what a failed setup() built; never raises (the original error matters more)."""
    try:
        if telemetry is not None:
            telemetry.shutdown(timeout)  # detaches handlers and patches, stops and releases providers
        owned = () if telemetry is None else (telemetry.tracer_provider, telemetry.meter_provider, telemetry.logger_provider)
        orphans = [provider for provider in built if not any(provider is mine for mine in owned)]
        if orphans:
            # Built by a step that failed before handing them over: stop their export threads.
            _bounded(lambda: _shutdown_providers(orphans), timeout, "otel-kit-setup-undo")
            for provider in orphans:
                provider_globals.release(provider, provider, provider)
    except Exception:  # noqa: BLE001
        _log.debug("otel-kit: cleanup after a failed setup() failed", exc_info=True)
    finally:
        if active.state is telemetry:
            active.state = None


def _shutdown_providers(providers: list[Any]) -> None:
    for provider in providers:
        try:
            provider.shutdown()
        except Exception:  # noqa: BLE001
            _log.debug("otel-kit: provider shutdown failed", exc_info=True)


def _setting_error(exc: BaseException, settings: Settings) -> ConfigError | None:
    """The ConfigError for a failure a setting caused (checked up front, but the disk may change)."""
    if settings.log_file and isinstance(exc, OSError):
        failed = {os.path.abspath(name) for name in (exc.filename, exc.filename2) if isinstance(name, str)}
        if os.path.abspath(settings.log_file) in failed:
            return ConfigError("log_file", settings.log_file, f"{SPECS['log_file'].accepted} ({exc.strerror or exc})")
    return None


def _build(
    settings: Settings,
    *,
    fastapi_operation_spans: bool,
    span_processors: Sequence[SpanProcessor],
    metric_readers: Sequence[MetricReader],
    log_processors: Sequence[LogRecordProcessor],
) -> Telemetry:
    resource = build_resource(settings)
    telemetry = Telemetry(settings, resource)
    telemetry.fastapi_operation_spans = fastapi_operation_spans
    if settings.disabled:
        return telemetry
    otlp.quiet_noisy_loggers()
    scrubber = Scrubber(sanitize_sql_text=not settings.capture_query_text) if settings.scrub else None
    telemetry.delivery = otlp.delivery(settings, telemetry.stats)
    try:
        outboxes = telemetry.delivery.outboxes

        if settings.metrics:
            metric_exporter = otlp.OtlpMetricExporter(outboxes["METRICS"]) if "METRICS" in outboxes else None
            telemetry.meter_provider = build_meter_provider(settings, resource, exporter=metric_exporter, readers=metric_readers)
            telemetry.meter = telemetry.meter_provider.get_meter("otel_kit")
            otlp.observe_delivery(telemetry.meter, telemetry.stats, telemetry.delivery)

        if settings.logs:
            telemetry.logger_provider = build_logger_provider(settings, resource)
            for processor in log_processors:
                telemetry.logger_provider.add_log_record_processor(processor)
            if "LOGS" in outboxes:
                telemetry.logger_provider.add_log_record_processor(
                    BatchLogRecordProcessor(
                        otlp.OtlpLogExporter(outboxes["LOGS"], scrubber),
                        schedule_delay_millis=settings.blrp_schedule_delay * 1000,
                        max_queue_size=settings.blrp_max_queue_size,
                        max_export_batch_size=min(settings.blrp_max_export_batch_size, settings.blrp_max_queue_size),
                    )
                )
            elif settings.signal_exporter("LOGS") == "console":
                telemetry.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter()))

        processors: list[SpanProcessor] = []
        if settings.traces:
            processors.extend(_analysis_processors(telemetry))
            processors.extend(span_processors)
            span_exporter = otlp.OtlpSpanExporter(outboxes["TRACES"], scrubber) if "TRACES" in outboxes else None
            telemetry.tracer_provider = build_tracer_provider(
                settings,
                resource,
                exporter=span_exporter,
                stats=telemetry.stats["spans"],
                processors=processors,
                meter_provider=telemetry.meter_provider,
            )
            telemetry.tracer = telemetry.tracer_provider.get_tracer("otel_kit")
            telemetry.db_tracer = telemetry.tracer_provider.get_tracer("otel_kit.sqlalchemy")
    except BaseException:
        # setup() undoes the providers; the outboxes (and a sender started for a spool) are ours.
        telemetry.delivery.abandon()
        raise
    provider_globals.install(telemetry.tracer_provider, telemetry.meter_provider, telemetry.logger_provider)
    return telemetry


def _analysis_processors(telemetry: Telemetry) -> list[SpanProcessor]:
    settings = telemetry.settings
    if settings.health:
        from otel_kit.analysis.health import HealthMonitor

        telemetry.health = HealthMonitor()
    if settings.slow_queries:
        from otel_kit.analysis.slow_queries import SlowQueryAnalyzer

        telemetry.slow_queries = SlowQueryAnalyzer(
            slow_ms=settings.slow_query_ms, n_plus_one_threshold=settings.n_plus_one_threshold
        )
    if telemetry.health is None and telemetry.slow_queries is None:
        return []
    from otel_kit.analysis.processor import AnalysisProcessor

    # one processor for both analyses, so each span is dispatched and read once
    telemetry.analysis = AnalysisProcessor(telemetry.health, telemetry.slow_queries)
    return [telemetry.analysis]


def _instrument(telemetry: Telemetry) -> None:
    """Attach integrations and signal families; each failure is reported, never raised.

    The integrations are the registry's records (``otel_kit.instrumentation``), then every other
    installed contrib instrumentor (``opentelemetry_instrumentor`` entry points) that is enabled.
    """
    settings = telemetry.settings
    if settings.disabled:
        return
    # Stable HTTP and database semantic conventions (http.request.method, url.*, db.system.name,
    # db.query.text, durations in seconds) for the contrib instrumentors too, unless the user chose.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
    telemetry._logging.install(
        service_name=settings.service_name,
        level=settings.log_level,
        level_explicit=settings.sources.get("log_level") != "default",
        log_format=settings.log_format,
        log_file=settings.log_file,
        logger_provider=telemetry.logger_provider if "logging" in settings.instrument else None,
    )
    if "logging" in settings.instrument:
        telemetry.instrumented.append("logging")
    if settings.traces:
        _install_integrations(telemetry)
    _attach_signals(telemetry)


def _install_integrations(telemetry: Telemetry) -> None:
    settings = telemetry.settings
    gaps: list[str] = []
    for record in _registry.integrations():
        name = record.name
        if name == "logging":  # attached above, with or without traces
            continue
        if name not in settings.instrument:
            telemetry.skipped[name] = "disabled"
            continue
        try:
            if _registry.activate(record, telemetry):
                telemetry.instrumented.append(name)
            else:
                telemetry.skipped[name] = _support.NOT_INSTALLED
        except _registry.MissingInstrumentation:
            # The library is there but not its instrumentation: say so (a silent gap looks like
            # "no traffic"); an instrumentation that is there but fails to import is a failure.
            extra = record.extra or name
            telemetry.skipped[name] = _support.gap(extra)
            if record.announce_gap:
                gaps.append(extra)
        except Exception as exc:  # noqa: BLE001 - a broken integration must not stop the app
            telemetry.skipped[name] = f"failed: {exc}"
            _log.warning("otel-kit: could not instrument %s: %s", name, exc)
    for name in _registry.contrib_names():
        if name not in settings.instrument:
            continue
        try:
            if _registry.activate_entry_point(name, telemetry) is None:
                telemetry.instrumented.append(name)
        except Exception as exc:  # noqa: BLE001
            telemetry.skipped[name] = f"failed: {exc}"
            _log.warning("otel-kit: could not activate the contrib instrumentor %s: %s", name, exc)
    _support.warn_gaps(gaps, _log.warning)


def _attach_signals(telemetry: Telemetry) -> None:
    """Enable each signal family on its own: one that fails must not take the others with it."""
    settings = telemetry.settings

    def ai() -> None:
        from otel_kit.signals.ai import AIMonitor, wrappers

        telemetry.ai = AIMonitor(telemetry, capture_content=settings.ai_capture_content)
        wrappers.activate()

    def security() -> None:
        if settings.security:
            from otel_kit.signals.security import SecurityMonitor
            from otel_kit.signals.security.guard import RequestGuard

            telemetry.security = SecurityMonitor(telemetry, enforce=settings.security_enforce, audit_key=settings.audit_key)
            telemetry.guard = RequestGuard(telemetry.security)

    def system() -> None:
        if settings.system_metrics and settings.metrics and telemetry.meter_provider is not None:
            from otel_kit.signals.system import SystemMetrics

            telemetry.system = SystemMetrics(telemetry.meter_provider)

    def analysis() -> None:
        if telemetry.health is not None:
            telemetry.health.bind(telemetry)
        if telemetry.slow_queries is not None:
            telemetry.slow_queries.bind(telemetry)

    for name, enable in (("ai", ai), ("security", security), ("system", system), ("analysis", analysis)):
        try:
            enable()
        except Exception as exc:  # noqa: BLE001
            _log.warning("otel-kit: could not enable the %s signals: %s", name, exc)


def shutdown(timeout: float | None = None) -> bool:
    """Shut down the active configuration, if any (module-level twin of ``Telemetry.shutdown``)."""
    telemetry = active.state
    return telemetry.shutdown(timeout) if telemetry is not None else True
