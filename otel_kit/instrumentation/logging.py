"""stdlib logging: bridged to OpenTelemetry logs, with trace-correlated console/JSON output.

The bridge never exports the SDK's, the exporters' or otel-kit's own records, nor anything logged
from an export thread: exporting them would create more telemetry each time export fails.

ASGI/WSGI servers (uvicorn, gunicorn, hypercorn) give their loggers their own handlers and stop
propagation, so their error logs would never reach the root logger's bridge: a tap on those
loggers forwards them. Their access logs stay out everywhere: the server spans cover each request.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import threading
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider

from otel_kit.instrumentation._registry import Integration

_INTERNAL_PREFIXES = ("opentelemetry", "otel_kit", "grpc", "urllib3.connectionpool")
_INTERNAL_CHILDREN = tuple(p + "." for p in _INTERNAL_PREFIXES)
_EXPORT_THREAD_PREFIXES = ("OtelBatch", "OtelPeriodicExportingMetricReader", "otel-kit-")
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "trace_id", "span_id", "service_name", "trace_sampled"}


class CorrelationFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id``, ``service_name`` to every record (empty outside a span)."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
            record.trace_sampled = context.trace_flags.sampled
        else:
            record.trace_id = record.span_id = ""
            record.trace_sampled = False
        record.service_name = self.service_name
        return True


class LoopBreaker(logging.Filter):
    """Keeps telemetry about telemetry out of the export pipeline."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name in _INTERNAL_PREFIXES or name.startswith(_INTERNAL_CHILDREN):
            return False
        return not threading.current_thread().name.startswith(_EXPORT_THREAD_PREFIXES)


_CORRELATION_KEYS = ("trace_id", "span_id", "service_name", "trace_sampled")
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "hypercorn", "hypercorn.error")
ACCESS_LOGGERS = frozenset({"uvicorn.access", "gunicorn.access", "hypercorn.access"})


class AccessLogFilter(logging.Filter):
    """Keeps servers' access logs out of the pipeline: one line per request repeats its server span."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name not in ACCESS_LOGGERS


def _reaches_root(logger: logging.Logger) -> bool:
    """Whether a record logged on ``logger`` propagates up to the root logger's handlers."""
    current: logging.Logger | None = logger
    while current is not None and current.parent is not None:
        if not current.propagate:
            return False
        current = current.parent
    return True


class ServerLogTap(logging.Filter):
    """Forwards a server logger's records to the bridge when they would not propagate to it.

    Attached as a logger *filter*, not a handler: ``logging.config.dictConfig`` (uvicorn's
    ``log_config``, gunicorn's ``logconfig_dict``) replaces a configured logger's handlers but keeps
    its filters, and uvicorn's gunicorn worker assigns its loggers' handler lists outright, so a tap
    added by ``setup()`` survives a server that configures logging afterwards. Logger filters only
    see records logged on that very logger, so each record meets at most one tap.
    """

    def __init__(self, bridge: logging.Handler) -> None:
        super().__init__()
        self.bridge = bridge

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if not _reaches_root(logging.getLogger(record.name)):
                self.bridge.handle(record)
        except Exception:  # noqa: BLE001 - telemetry must never break the server's own logging
            pass
        return True


class BridgeHandler(LoggingHandler):
    """The OpenTelemetry logging handler, minus the correlation fields other handlers add.

    Records are shared between handlers, so a console handler's correlation filter may already
    have set ``trace_id`` etc.; the log record carries those natively, so they are not repeated
    as attributes.
    """

    def flush(self) -> None:
        """Nothing to do here: ``shutdown()``/``force_flush()`` flush with a time bound.

        The base class starts a non-daemon thread running an unbounded ``force_flush()``;
        ``logging.shutdown()`` calls it at exit, and a collector that does not answer then keeps
        the process alive for as long as the export takes.
        """

    def _get_attributes(self, record: logging.LogRecord) -> tuple[dict[str, Any], str | None]:
        attributes, event_name = super()._get_attributes(record)
        for key in _CORRELATION_KEYS:
            attributes.pop(key, None)
        return attributes, event_name


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, trace ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service.name": getattr(record, "service_name", ""),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


CONSOLE_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"


def make_formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(CONSOLE_FORMAT)


class LoggingIntegration:
    """Everything ``setup()`` attaches to the root logger, so ``shutdown()`` can detach it."""

    def __init__(self) -> None:
        self._handlers: list[logging.Handler] = []
        self._filtered: list[tuple[logging.Handler, logging.Filter]] = []
        self._taps: list[tuple[logging.Logger, logging.Filter]] = []
        self._previous_level: int | None = None

    def install(
        self,
        *,
        service_name: str,
        level: str,
        level_explicit: bool,
        log_format: str | None,
        log_file: str | None,
        logger_provider: LoggerProvider | None,
    ) -> None:
        root = logging.getLogger()
        correlation = CorrelationFilter(service_name)
        user_handlers = list(root.handlers)
        for handler in user_handlers:
            handler.addFilter(correlation)
            self._filtered.append((handler, correlation))
        fmt = log_format if log_format is not None else ("console" if not user_handlers else "none")
        if fmt != "none":
            console = logging.StreamHandler()
            console.setFormatter(make_formatter(fmt))
            self._add(root, console, correlation)
        if log_file:
            rotating = logging.handlers.RotatingFileHandler(log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
            rotating.setFormatter(make_formatter("json" if fmt in ("json", "none") else fmt))
            self._add(root, rotating, correlation)
        if logger_provider is not None:
            bridge = BridgeHandler(level=logging.NOTSET, logger_provider=logger_provider)
            bridge.addFilter(LoopBreaker())
            bridge.addFilter(AccessLogFilter())
            self._add(root, bridge, None)
            for name in SERVER_LOGGERS:
                tap = ServerLogTap(bridge)
                server_logger = logging.getLogger(name)
                server_logger.addFilter(tap)
                self._taps.append((server_logger, tap))
        if level_explicit or not user_handlers:
            self._previous_level = root.level
            root.setLevel(level.upper())

    def _add(self, root: logging.Logger, handler: logging.Handler, correlation: logging.Filter | None) -> None:
        if correlation is not None:
            handler.addFilter(correlation)
        root.addHandler(handler)
        self._handlers.append(handler)

    def uninstall(self) -> None:
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            try:
                handler.flush()
                if isinstance(handler, logging.FileHandler):
                    handler.close()
            except Exception:  # noqa: BLE001
                pass
        for handler, correlation in self._filtered:
            handler.removeFilter(correlation)
        for server_logger, tap in self._taps:
            server_logger.removeFilter(tap)
        self._taps.clear()
        if self._previous_level is not None:
            root.setLevel(self._previous_level)
        self._handlers.clear()
        self._filtered.clear()


# Attached by setup() itself (it also formats the console output), so the record has no installer.
INTEGRATION = Integration(
    name="logging",
    library="logging",
    extra=None,
    requires=(),
    summary="stdlib logging bridged to OTel logs, trace-correlated console/JSON output",
)
