"""Resolve ``setup()`` settings: argument > ``OTEL_KIT_*`` > standard ``OTEL_*`` > default.

An invalid *argument* raises :class:`ConfigError` naming the setting, the value and what is
accepted. An invalid *environment variable* logs one warning and falls back, as the
OpenTelemetry SDK does, because a deployment typo must not stop a service from starting.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit

from otel_kit.config import environment as env

_log = logging.getLogger("otel_kit.config")

INTEGRATIONS = ("fastapi", "sqlalchemy", "logging", "httpx", "requests")
PROTOCOLS = ("grpc", "http/protobuf")
LOG_FORMATS = ("console", "json", "none")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
EXPORTERS = ("otlp", "console", "none")
FASTAPI_MODES = ("contrib", "native")
DEFAULT_EXCLUDED_URLS = ("/health", "/healthz", "/livez", "/readyz", "/metrics")


class ConfigError(ValueError):
    """An invalid ``setup()`` argument: names the setting, the value given and what is accepted."""

    def __init__(self, setting: str, value: object, accepted: str) -> None:
        self.setting = setting
        self.value = value
        self.accepted = accepted
        super().__init__(f"invalid {setting}={value!r}: expected {accepted}")


class _Invalid(Exception):
    """A value failed to parse; carries nothing because the caller knows the context."""


# --- parsers: each takes an argument value or an environment string --------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return _text(value)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _Invalid


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise _Invalid
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _Invalid from None
        if math.isnan(number) or number > high or number < low or (low_open and number == low):
            raise _Invalid
        return number

    return parse


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise _Invalid
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _Invalid from None
        if not low <= number <= high:
            raise _Invalid
        return number

    return parse


def _choice(options: Iterable[str], aliases: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    allowed = tuple(options)

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid
        lowered = value.strip().lower()
        lowered = (aliases or {}).get(lowered, lowered)
        if lowered not in allowed:
            raise _Invalid
        return lowered

    return parse


def _endpoint(value: Any) -> str:
    text = _text(value)
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _Invalid from None
    return text.rstrip("/")


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) and k for k, v in value.items()):
            raise _Invalid
        return dict(value)
    if not isinstance(value, str):
        raise _Invalid
    result: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise _Invalid
        result[unquote(key.strip())] = unquote(val.strip())
    return result


def _names(options: Iterable[str]) -> Callable[[Any], frozenset[str]]:
    allowed = frozenset(options)

    def parse(value: Any) -> frozenset[str]:
        if isinstance(value, str):
            items = [part.strip().lower() for part in value.split(",") if part.strip()]
        elif isinstance(value, Mapping):
            items = [str(k).lower() for k, enabled in value.items() if enabled]
            if not all(isinstance(v, bool) for v in value.values()):
                raise _Invalid
        elif isinstance(value, Iterable):
            items = [str(v).strip().lower() for v in value]
        else:
            raise _Invalid
        chosen = frozenset(items)
        if not chosen <= allowed:
            raise _Invalid
        return chosen

    return parse


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise _Invalid
    for item in value.values():
        if not isinstance(item, (str, bool, int, float)):
            raise _Invalid
    return dict(value)


def _paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable):
        items = [str(v) for v in value]
    else:
        raise _Invalid
    if not all(item.startswith("/") for item in items):
        raise _Invalid
    return tuple(items)


def _seconds_or_millis(value: Any) -> float:
    """OTEL_EXPORTER_OTLP_TIMEOUT: the Python SDK reads seconds, the spec says milliseconds.

    Values above 1000 can only sensibly be milliseconds, so they are read as such.
    """
    number = _number(0, 86_400_000, low_open=True)(value)
    return number / 1000 if number > 1000 else number


def _millis(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        return _number(low, high, low_open=True)(value) / 1000

    return parse


def _sampler(value: Any) -> float:
    """Read OTEL_TRACES_SAMPLER (+ _ARG) into a ratio; parent-based is always applied."""
    name = _text(value).lower()
    if name in ("always_on", "parentbased_always_on"):
        return 1.0
    if name in ("always_off", "parentbased_always_off"):
        return 0.0
    if name in ("traceidratio", "parentbased_traceidratio"):
        raw = os.environ.get(env.OTEL_TRACES_SAMPLER_ARG, "1.0")
        return _number(0.0, 1.0)(raw)
    raise _Invalid


@dataclass(frozen=True)
class _Spec:
    parse: Callable[[Any], Any]
    accepted: str
    default: Any
    envs: tuple[tuple[str, Callable[[Any], Any] | None], ...] = ()


_ratio = _number(0.0, 1.0)
_positive_seconds = _number(0.0, 86_400.0, low_open=True)

SPECS: dict[str, _Spec] = {
    "service_name": _Spec(
        _text, "a non-empty string", None,
        ((env.OTEL_KIT_SERVICE_NAME, None), (env.OTEL_SERVICE_NAME, None)),
    ),
    "service_version": _Spec(_optional_text, "a non-empty string", None, ((env.OTEL_KIT_SERVICE_VERSION, None),)),
    "environment": _Spec(_optional_text, "a non-empty string", None, ((env.OTEL_KIT_ENVIRONMENT, None),)),
    "endpoint": _Spec(
        _endpoint, "an http:// or https:// URL with a host, e.g. http://127.0.0.1:4317", None,
        ((env.OTEL_KIT_ENDPOINT, None), (env.OTEL_EXPORTER_OTLP_ENDPOINT, None)),
    ),
    "protocol": _Spec(
        _choice(PROTOCOLS, {"http": "http/protobuf"}), "one of 'grpc', 'http/protobuf'", "grpc",
        ((env.OTEL_KIT_PROTOCOL, None), (env.OTEL_EXPORTER_OTLP_PROTOCOL, None)),
    ),
    "headers": _Spec(
        _headers, "a dict of str to str or 'key=value,key2=value2'", {},
        ((env.OTEL_KIT_HEADERS, None), (env.OTEL_EXPORTER_OTLP_HEADERS, None)),
    ),
    "insecure": _Spec(
        _bool, "True or False", None,
        ((env.OTEL_KIT_INSECURE, None), (env.OTEL_EXPORTER_OTLP_INSECURE, None)),
    ),
    "export_timeout": _Spec(
        _positive_seconds, "seconds, a number > 0", 10.0,
        ((env.OTEL_KIT_EXPORT_TIMEOUT, None), (env.OTEL_EXPORTER_OTLP_TIMEOUT, _seconds_or_millis)),
    ),
    "sample_ratio": _Spec(
        _ratio, "a number from 0.0 to 1.0", 1.0,
        ((env.OTEL_KIT_SAMPLE_RATIO, None), (env.OTEL_TRACES_SAMPLER, _sampler)),
    ),
    "traces": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_TRACES, None),)),
    "metrics": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_METRICS, None),)),
    "logs": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_LOGS, None),)),
    "exporter": _Spec(_choice(EXPORTERS), "one of 'otlp', 'console', 'none'", "otlp"),
    "console": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_CONSOLE, None),)),
    "metric_interval": _Spec(
        _number(0.05, 86_400.0), "seconds, a number from 0.05 to 86400", 60.0,
        ((env.OTEL_KIT_METRIC_INTERVAL, None), (env.OTEL_METRIC_EXPORT_INTERVAL, _millis(50, 86_400_000))),
    ),
    "resource_attributes": _Spec(_attributes, "a dict of str to str/bool/int/float", {}),
    "instrument": _Spec(
        _names(INTEGRATIONS), "names from " + ", ".join(INTEGRATIONS) + " (a list, a comma string or a dict of bools)",
        frozenset(INTEGRATIONS), ((env.OTEL_KIT_INSTRUMENT, None),),
    ),
    "log_level": _Spec(
        _choice(LOG_LEVELS, {"warn": "warning", "fatal": "critical"}), "one of " + ", ".join(LOG_LEVELS), "info",
        ((env.OTEL_KIT_LOG_LEVEL, None), (env.OTEL_LOG_LEVEL, None)),
    ),
    "log_format": _Spec(_choice(LOG_FORMATS), "one of 'console', 'json', 'none'", None, ((env.OTEL_KIT_LOG_FORMAT, None),)),
    "log_file": _Spec(_optional_text, "a file path", None, ((env.OTEL_KIT_LOG_FILE, None),)),
    "shutdown_timeout": _Spec(
        _number(0.0, 600.0, low_open=True), "seconds, a number > 0 and <= 600", 5.0,
        ((env.OTEL_KIT_SHUTDOWN_TIMEOUT, None),),
    ),
    "fastapi_telemetry": _Spec(
        _choice(FASTAPI_MODES), "one of 'contrib', 'native'", "contrib", ((env.OTEL_KIT_FASTAPI_TELEMETRY, None),),
    ),
    "excluded_urls": _Spec(
        _paths, "paths starting with '/' (a list or a comma string)", DEFAULT_EXCLUDED_URLS,
        ((env.OTEL_KIT_EXCLUDED_URLS, None),),
    ),
    "system_metrics": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SYSTEM_METRICS, None),)),
    "security": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SECURITY, None),)),
    "security_enforce": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_SECURITY_ENFORCE, None),)),
    "audit_key": _Spec(_optional_text, "a non-empty string (the HMAC key)", None, ((env.OTEL_KIT_AUDIT_KEY, None),)),
    "health": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_HEALTH, None),)),
    "slow_queries": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SLOW_QUERIES, None),)),
    "slow_query_ms": _Spec(
        _number(0.0, 3_600_000.0, low_open=True), "milliseconds, a number > 0", 500.0,
        ((env.OTEL_KIT_SLOW_QUERY_MS, None),),
    ),
    "n_plus_one_threshold": _Spec(_integer(2, 100_000), "an integer from 2 to 100000", 10, ((env.OTEL_KIT_N_PLUS_ONE, None),)),
    "capture_query_text": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_CAPTURE_QUERY_TEXT, None),)),
    "ai_capture_content": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_AI_CAPTURE_CONTENT, None),)),
    "scrub": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SCRUB, None),)),
    "bsp_schedule_delay": _Spec(_number(0.001, 3600.0), "seconds", 5.0, ((env.OTEL_BSP_SCHEDULE_DELAY, _millis(1, 3_600_000)),)),
    "bsp_max_queue_size": _Spec(_integer(1, 10_000_000), "a positive integer", 2048, ((env.OTEL_BSP_MAX_QUEUE_SIZE, None),)),
    "bsp_max_export_batch_size": _Spec(_integer(1, 10_000_000), "a positive integer", 512, ((env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, None),)),
    "blrp_schedule_delay": _Spec(_number(0.001, 3600.0), "seconds", 1.0, ((env.OTEL_BLRP_SCHEDULE_DELAY, _millis(1, 3_600_000)),)),
    "blrp_max_queue_size": _Spec(_integer(1, 10_000_000), "a positive integer", 2048, ((env.OTEL_BLRP_MAX_QUEUE_SIZE, None),)),
    "blrp_max_export_batch_size": _Spec(_integer(1, 10_000_000), "a positive integer", 512, ((env.OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, None),)),
}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration; ``sources`` says where each value came from."""

    service_name: str
    service_version: str | None
    environment: str | None
    endpoint: str | None
    protocol: str
    headers: dict[str, str]
    insecure: bool | None
    export_timeout: float
    sample_ratio: float
    traces: bool
    metrics: bool
    logs: bool
    exporter: str
    console: bool
    metric_interval: float
    resource_attributes: dict[str, Any]
    instrument: frozenset[str]
    log_level: str
    log_format: str | None
    log_file: str | None
    shutdown_timeout: float
    fastapi_telemetry: str
    excluded_urls: tuple[str, ...]
    system_metrics: bool
    security: bool
    security_enforce: bool
    audit_key: str | None
    health: bool
    slow_queries: bool
    slow_query_ms: float
    n_plus_one_threshold: int
    capture_query_text: bool
    ai_capture_content: bool
    scrub: bool
    bsp_schedule_delay: float
    bsp_max_queue_size: int
    bsp_max_export_batch_size: int
    blrp_schedule_delay: float
    blrp_max_queue_size: int
    blrp_max_export_batch_size: int
    disabled: bool = False
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def signal_endpoint(self, signal: str) -> str:
        """The OTLP URL for one signal (``TRACES``/``METRICS``/``LOGS``), per-signal variables first."""
        if self.sources.get("endpoint") == "argument" or self.sources.get("endpoint") == env.OTEL_KIT_ENDPOINT:
            base = self.endpoint
        else:
            specific = os.environ.get(env.per_signal(env.OTEL_EXPORTER_OTLP_ENDPOINT, signal))
            if specific:
                try:
                    return _endpoint(specific)
                except _Invalid:
                    _warn_env(env.per_signal(env.OTEL_EXPORTER_OTLP_ENDPOINT, signal), specific, "endpoint", SPECS["endpoint"].accepted)
            base = self.endpoint
        protocol = self.signal_protocol(signal)
        if base is None:
            base = "http://127.0.0.1:4317" if protocol == "grpc" else "http://127.0.0.1:4318"
        if protocol == "grpc":
            return base
        return f"{base}/v1/{signal.lower()}"

    def signal_protocol(self, signal: str) -> str:
        if self.sources.get("protocol") in ("argument", env.OTEL_KIT_PROTOCOL):
            return self.protocol
        specific = os.environ.get(env.per_signal(env.OTEL_EXPORTER_OTLP_PROTOCOL, signal))
        if specific:
            try:
                return str(SPECS["protocol"].parse(specific))
            except _Invalid:
                _warn_env(env.per_signal(env.OTEL_EXPORTER_OTLP_PROTOCOL, signal), specific, "protocol", SPECS["protocol"].accepted)
        return self.protocol

    def signal_exporter(self, signal: str) -> str:
        """``otlp``/``console``/``none`` for one signal: argument, else OTEL_<SIGNAL>_EXPORTER."""
        if self.sources.get("exporter") == "argument":
            return self.exporter
        raw = os.environ.get(env.exporter_variable(signal))
        if raw:
            first = raw.split(",")[0]
            try:
                return _choice(EXPORTERS)(first)
            except _Invalid:
                _warn_env(env.exporter_variable(signal), raw, "exporter", "one of 'otlp', 'console', 'none'")
        return self.exporter


_warned: set[tuple[str, str]] = set()


def _warn_env(variable: str, raw: str, setting: str, accepted: str) -> None:
    if (variable, raw) in _warned:
        return
    _warned.add((variable, raw))
    _log.warning(
        "otel-kit: ignoring %s=%r for setting %r: expected %s; using the next source or the default",
        variable, raw, setting, accepted,
    )


def _from_environment(name: str, spec: _Spec) -> tuple[Any, str] | None:
    for variable, parser in spec.envs:
        raw = os.environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        try:
            return (parser or spec.parse)(raw), variable
        except _Invalid:
            _warn_env(variable, raw, name, spec.accepted)
    return None


def _instrument_from_environment(value: frozenset[str]) -> frozenset[str]:
    raw = os.environ.get(env.OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "")
    disabled = {part.strip().lower() for part in raw.split(",") if part.strip()}
    return value - disabled


def resolve(arguments: Mapping[str, Any]) -> Settings:
    """Resolve every setting; raise :class:`ConfigError` for the first invalid argument."""
    unknown = set(arguments) - set(SPECS)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(name, arguments[name], "a known setting: " + ", ".join(sorted(SPECS)))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in SPECS.items():
        given = arguments.get(name)
        if given is not None:
            try:
                values[name] = spec.parse(given)
            except _Invalid:
                raise ConfigError(name, given, spec.accepted) from None
            sources[name] = "argument"
            continue
        found = _from_environment(name, spec)
        if found is not None:
            values[name], sources[name] = found
        else:
            values[name], sources[name] = spec.default, "default"
    if sources["instrument"] != "argument":
        values["instrument"] = _instrument_from_environment(values["instrument"])
    if values["service_name"] is None:
        values["service_name"] = _service_name_from_resource_attributes() or "unknown_service:python"
    disabled = os.environ.get(env.OTEL_SDK_DISABLED, "").strip().lower() == "true"
    return Settings(**values, disabled=disabled, sources=sources)


def _service_name_from_resource_attributes() -> str | None:
    for item in os.environ.get(env.OTEL_RESOURCE_ATTRIBUTES, "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            return unquote(value.strip())
    return None


def setting_names() -> tuple[str, ...]:
    """Names accepted by ``setup()``, in documentation order."""
    return tuple(f.name for f in fields(Settings) if f.name not in ("disabled", "sources"))
