"""Resolve ``setup()`` settings: argument > ``OTEL_KIT_*`` > standard ``OTEL_*`` > default.

An invalid *argument* raises :class:`ConfigError` naming the setting, the value and what is
accepted. An invalid *environment variable* logs one warning and falls back, as the
OpenTelemetry SDK does, because a deployment typo must not stop a service from starting.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from otel_kit.config import environment as env
from otel_kit.config import integrations

_log = logging.getLogger("otel_kit.config")

def _instrumentable() -> frozenset[str]:
    """otel-kit's integrations and the installed contrib instrumentors' entry-point names."""
    return integrations.instrumentable()


def _instrument_accepted() -> str:
    return "names from " + ", ".join(integrations.names()) + " or an installed contrib instrumentor's entry-point name (a list, a comma string or a dict of bools)"


PROTOCOLS = ("grpc", "http/protobuf")
LOG_FORMATS = ("console", "json", "none")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
EXPORTERS = ("otlp", "console", "none")
FASTAPI_MODES = ("contrib", "native")
DEFAULT_EXCLUDED_URLS = ("/health", "/healthz", "/livez", "/readyz", "/metrics")
DEFAULT_ATTRIBUTE_VALUE_LENGTH = 16_384
"""Longest exported attribute value (and log body) unless OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT says otherwise."""
DEFAULT_COUNT_LIMIT = 128
"""The SDK's default for every attribute, event and link count limit."""
SECRET = "***"


class ConfigError(ValueError):
    """An invalid ``setup()`` argument: names the setting, the value given and what is accepted.

    For settings that carry credentials (headers, audit_key, an endpoint with ``user:password@``)
    ``value`` is the masked form: the secret is never part of the message or the exception.
    """

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


_HOSTNAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.DOTALL)


def _endpoint(value: Any) -> str:
    """An OTLP base URL: http(s), a valid host, an optional port 1-65535, no credentials, query or fragment."""
    text = _text(value)
    # "@" anywhere: credentials (user:password@) belong in headers, and a stray one hides them in a path
    if any(ch.isspace() or not ch.isprintable() for ch in text) or any(ch in text for ch in "?#@"):
        raise _Invalid
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port  # both raise ValueError on "[::1" or a bad port
    except ValueError:
        raise _Invalid from None
    if parts.scheme not in ("http", "https") or not host or port == 0:
        raise _Invalid
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid from None
    elif not _HOSTNAME.fullmatch(host):
        raise _Invalid
    return text.rstrip("/")


def _grpc_endpoint(value: Any) -> str:
    """gRPC dials host:port only: the SDK silently drops a path, so a path means a misconfiguration."""
    url = _endpoint(value)
    if _has_path(url):
        raise _Invalid
    return url


def _has_path(url: str) -> bool:
    return urlsplit(url).path not in ("", "/")


def _mask_endpoint(value: Any) -> object:
    """The URL with everything between the scheme and the last ``@`` (``user:password``) replaced by ``***``."""
    if not isinstance(value, str):
        return value
    return _USERINFO.sub(lambda m: (m.group(1) or "") + SECRET + "@", value.strip())


# gRPC metadata (HTTP/2 headers as grpc-core checks them): lowercase names of [0-9a-z-_.], values
# of printable ASCII. Capitals in a name make every gRPC export fail with "Invalid metadata".
_HEADER_NAME = re.compile(r"[0-9a-z_.-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


def _header(name: Any, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not isinstance(value, str):
        raise _Invalid
    name, value = name.strip().lower(), value.strip()
    if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
        raise _Invalid
    return name, value


def _headers(value: Any) -> dict[str, str]:
    """A dict, or the W3C-baggage-like 'name=value,name2=value2' (percent-decoded) of the OTLP variables."""
    result: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, val in value.items():
            name, text = _header(key, val)
            if name in result:  # 'X-Key' and 'x-key' would silently overwrite each other
                raise _Invalid
            result[name] = text
        return result
    if not isinstance(value, str):
        raise _Invalid
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep:
            raise _Invalid
        name, text = _header(unquote(key), unquote(val))
        result[name] = text
    return result


def _mask_headers(value: Any) -> object:
    """Header names only: every value (and anything that might be a bare token) becomes ``***``."""
    if isinstance(value, Mapping):
        return {str(key): SECRET for key in value}
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
        return ",".join(item.partition("=")[0].strip() + "=" + SECRET if "=" in item else SECRET for item in items)
    return SECRET


def _mask_all(value: Any) -> object:
    return SECRET


def _log_file(value: Any) -> str:
    """A path the RotatingFileHandler can open and rotate: an existing, writable directory."""
    path = _text(value)
    if "\x00" in path:
        raise _Invalid
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise _Invalid
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise _Invalid
    return path


def _names(options: Iterable[str] | Callable[[], Iterable[str]]) -> Callable[[Any], frozenset[str]]:
    fixed = None if callable(options) else frozenset(options)

    def parse(value: Any) -> frozenset[str]:
        allowed = fixed if fixed is not None else frozenset(options())  # type: ignore[operator]
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
    if "service.name" in value:
        name = value["service.name"]
        if not isinstance(name, str) or not name.strip():  # would export an unnamed service
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
    seconds = number / 1000 if number > 1000 else number
    if seconds < MIN_EXPORT_TIMEOUT:
        raise _Invalid
    return seconds


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
    mask: Callable[[Any], object] | None = None
    """For settings that carry secrets: what an error or a warning may show instead of the value."""


MIN_EXPORT_TIMEOUT = 0.001
_ratio = _number(0.0, 1.0)
_HEADERS_ACCEPTED = (
    "a dict of str to str or 'name=value,name2=value2': names of letters, digits, '-', '_', '.' "
    "(sent lowercased), values of printable ASCII (no newline, CR, NUL or other control character; "
    "surrounding whitespace is removed)"
)
_ENDPOINT_ACCEPTED = (
    "an http:// or https:// URL with a valid host and optional port 1-65535, without user:password@ "
    "(send credentials with headers=), query or spaces, e.g. http://127.0.0.1:4317"
)
_GRPC_ENDPOINT_ACCEPTED = _ENDPOINT_ACCEPTED + "; with protocol 'grpc' no path either (gRPC ignores it)"

SPECS: dict[str, _Spec] = {
    "service_name": _Spec(
        _text, "a non-empty string", None,
        ((env.OTEL_KIT_SERVICE_NAME, None), (env.OTEL_SERVICE_NAME, None)),
    ),
    "service_version": _Spec(_optional_text, "a non-empty string", None, ((env.OTEL_KIT_SERVICE_VERSION, None),)),
    "environment": _Spec(_optional_text, "a non-empty string", None, ((env.OTEL_KIT_ENVIRONMENT, None),)),
    "endpoint": _Spec(
        _endpoint, _ENDPOINT_ACCEPTED, None,
        ((env.OTEL_KIT_ENDPOINT, None), (env.OTEL_EXPORTER_OTLP_ENDPOINT, None)), _mask_endpoint,
    ),
    "protocol": _Spec(
        _choice(PROTOCOLS, {"http": "http/protobuf"}), "one of 'grpc', 'http/protobuf'", "grpc",
        ((env.OTEL_KIT_PROTOCOL, None), (env.OTEL_EXPORTER_OTLP_PROTOCOL, None)),
    ),
    "headers": _Spec(
        _headers, _HEADERS_ACCEPTED, {},
        ((env.OTEL_KIT_HEADERS, None), (env.OTEL_EXPORTER_OTLP_HEADERS, None)), _mask_headers,
    ),
    "insecure": _Spec(
        _bool, "True or False", None,
        ((env.OTEL_KIT_INSECURE, None), (env.OTEL_EXPORTER_OTLP_INSECURE, None)),
    ),
    "export_timeout": _Spec(
        _number(MIN_EXPORT_TIMEOUT, 86_400.0), "seconds, a number from 0.001 (1 ms) to 86400", 10.0,
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
    "resource_attributes": _Spec(_attributes, "a dict of str to str/bool/int/float; service.name, if given, a non-empty string", {}),
    # What it accepts and turns on is known once the instrumentation registry has registered itself:
    # ``resolve`` asks then (``_instrument_accepted``, ``_instrumentable``).
    "instrument": _Spec(_names(_instrumentable), "names of integrations", frozenset(), ((env.OTEL_KIT_INSTRUMENT, None),)),
    "log_level": _Spec(
        _choice(LOG_LEVELS, {"warn": "warning", "fatal": "critical"}), "one of " + ", ".join(LOG_LEVELS), "info",
        ((env.OTEL_KIT_LOG_LEVEL, None), (env.OTEL_LOG_LEVEL, None)),
    ),
    "log_format": _Spec(_choice(LOG_FORMATS), "one of 'console', 'json', 'none'", None, ((env.OTEL_KIT_LOG_FORMAT, None),)),
    "log_file": _Spec(_log_file, "a file path in an existing, writable directory", None, ((env.OTEL_KIT_LOG_FILE, None),)),
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
    "audit_key": _Spec(_optional_text, "a non-empty string (the HMAC key)", None, ((env.OTEL_KIT_AUDIT_KEY, None),), _mask_all),
    "health": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_HEALTH, None),)),
    "health_check_interval": _Spec(
        _number(0.0, 86_400.0), "seconds, a number from 0 (checks only on request) to 86400", 30.0,
        ((env.OTEL_KIT_HEALTH_CHECK_INTERVAL, None),),
    ),
    "slow_queries": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SLOW_QUERIES, None),)),
    "slow_query_ms": _Spec(
        _number(0.0, 3_600_000.0, low_open=True), "milliseconds, a number > 0", 500.0,
        ((env.OTEL_KIT_SLOW_QUERY_MS, None),),
    ),
    "n_plus_one_threshold": _Spec(_integer(2, 100_000), "an integer from 2 to 100000", 10, ((env.OTEL_KIT_N_PLUS_ONE, None),)),
    "capture_query_text": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_CAPTURE_QUERY_TEXT, None),)),
    "ai_capture_content": _Spec(_bool, "True or False", False, ((env.OTEL_KIT_AI_CAPTURE_CONTENT, None),)),
    "scrub": _Spec(_bool, "True or False", True, ((env.OTEL_KIT_SCRUB, None),)),
    "export_buffer_mb": _Spec(
        _number(0.0, 65_536.0, low_open=True), "megabytes, a number > 0", 64.0, ((env.OTEL_KIT_EXPORT_BUFFER_MB, None),),
    ),
    "export_spool_dir": _Spec(_optional_text, "a directory path", None, ((env.OTEL_KIT_EXPORT_SPOOL_DIR, None),)),
    "export_spool_mb": _Spec(
        _number(0.0, 1_048_576.0, low_open=True), "megabytes, a number > 0", 512.0, ((env.OTEL_KIT_EXPORT_SPOOL_MB, None),),
    ),
    "bsp_schedule_delay": _Spec(_number(0.001, 3600.0), "seconds", 5.0, ((env.OTEL_BSP_SCHEDULE_DELAY, _millis(1, 3_600_000)),)),
    "bsp_max_queue_size": _Spec(_integer(1, 10_000_000), "a positive integer", 2048, ((env.OTEL_BSP_MAX_QUEUE_SIZE, None),)),
    "bsp_max_export_batch_size": _Spec(_integer(1, 10_000_000), "a positive integer", 512, ((env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, None),)),
    "blrp_schedule_delay": _Spec(_number(0.001, 3600.0), "seconds", 1.0, ((env.OTEL_BLRP_SCHEDULE_DELAY, _millis(1, 3_600_000)),)),
    "blrp_max_queue_size": _Spec(_integer(1, 10_000_000), "a positive integer", 2048, ((env.OTEL_BLRP_MAX_QUEUE_SIZE, None),)),
    "blrp_max_export_batch_size": _Spec(_integer(1, 10_000_000), "a positive integer", 512, ((env.OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, None),)),
}


@dataclass(frozen=True)
class Limits:
    """Attribute, event and link limits, resolved as the SDK resolves them, with bounded values.

    The SDK leaves attribute values unlimited by default; otel-kit caps them at
    ``DEFAULT_ATTRIBUTE_VALUE_LENGTH`` characters so one huge header cannot make every batch huge.
    Specific variables (``OTEL_SPAN_*``, ``OTEL_EVENT_*``, ``OTEL_LINK_*``, ``OTEL_LOGRECORD_*``) win
    over the global ``OTEL_ATTRIBUTE_*`` ones, which win over the defaults.
    """

    attribute_count: int = DEFAULT_COUNT_LIMIT
    attribute_value_length: int = DEFAULT_ATTRIBUTE_VALUE_LENGTH
    span_attribute_count: int = DEFAULT_COUNT_LIMIT
    span_attribute_value_length: int = DEFAULT_ATTRIBUTE_VALUE_LENGTH
    span_event_count: int = DEFAULT_COUNT_LIMIT
    span_link_count: int = DEFAULT_COUNT_LIMIT
    event_attribute_count: int = DEFAULT_COUNT_LIMIT
    link_attribute_count: int = DEFAULT_COUNT_LIMIT
    log_record_attribute_count: int = DEFAULT_COUNT_LIMIT
    log_record_attribute_value_length: int = DEFAULT_ATTRIBUTE_VALUE_LENGTH


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
    health_check_interval: float
    slow_queries: bool
    slow_query_ms: float
    n_plus_one_threshold: int
    capture_query_text: bool
    ai_capture_content: bool
    scrub: bool
    export_buffer_mb: float
    export_spool_dir: str | None
    export_spool_mb: float
    bsp_schedule_delay: float
    bsp_max_queue_size: int
    bsp_max_export_batch_size: int
    blrp_schedule_delay: float
    blrp_max_queue_size: int
    blrp_max_export_batch_size: int
    disabled: bool = False
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    limits: Limits = field(default_factory=Limits)

    def __repr__(self) -> str:
        # Header values and the audit key are credentials: a logged or printed Settings shows names only.
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources"}
        shown["headers"] = _mask_headers(self.headers)
        if self.audit_key is not None:
            shown["audit_key"] = SECRET
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in shown.items()) + ")"

    def signal_endpoint(self, signal: str) -> str:
        """The OTLP URL for one signal (``TRACES``/``METRICS``/``LOGS``), per-signal variables first."""
        if self.sources.get("endpoint") == "argument" or self.sources.get("endpoint") == env.OTEL_KIT_ENDPOINT:
            base = self.endpoint
        else:
            variable = env.per_signal(env.OTEL_EXPORTER_OTLP_ENDPOINT, signal)
            specific = os.environ.get(variable)
            if specific and specific.strip():
                grpc = self.signal_protocol(signal) == "grpc"
                try:
                    return (_grpc_endpoint if grpc else _endpoint)(specific)
                except _Invalid:
                    _warn_env(variable, specific, "endpoint", _GRPC_ENDPOINT_ACCEPTED if grpc else _ENDPOINT_ACCEPTED, _mask_endpoint)
            base = self.endpoint
        protocol = self.signal_protocol(signal)
        if base is not None and protocol == "grpc" and _has_path(base):
            # Only reachable when a per-signal variable switches this signal to gRPC: the base URL
            # was checked against the general protocol.
            protocol_variable = env.per_signal(env.OTEL_EXPORTER_OTLP_PROTOCOL, signal)
            _warn_once(
                (protocol_variable, base),
                "otel-kit: %s=grpc but the endpoint from %s has a path (%r), which gRPC ignores; %s go to the default endpoint",
                protocol_variable, self.sources.get("endpoint"), base, signal.lower(),
            )
            base = None
        if base is None:
            base = "http://127.0.0.1:4317" if protocol == "grpc" else "http://127.0.0.1:4318"
        if protocol == "grpc":
            return base
        return f"{base}/v1/{signal.lower()}"

    def signal_headers(self, signal: str) -> dict[str, str]:
        """Export headers for one signal: ``OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`` adds to the general ones."""
        headers = dict(self.headers)
        if self.sources.get("headers") != "argument":
            variable = env.per_signal(env.OTEL_EXPORTER_OTLP_HEADERS, signal)
            raw = os.environ.get(variable)
            if raw:
                try:
                    headers.update(SPECS["headers"].parse(raw))
                except _Invalid:
                    _warn_env(variable, raw, "headers", SPECS["headers"].accepted, _mask_headers)
        return headers

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


def _warn_once(key: tuple[str, str], message: str, *args: object) -> None:
    if key in _warned:
        return
    _warned.add(key)
    _log.warning(message, *args)


def _warn_env(variable: str, raw: str, setting: str, accepted: str, mask: Callable[[Any], object] | None = None) -> None:
    _warn_once(
        (variable, raw),
        "otel-kit: ignoring %s=%r for setting %r: expected %s; using the next source or the default",
        variable, mask(raw) if mask is not None else raw, setting, accepted,
    )


def _from_environment(name: str, spec: _Spec, parse: Callable[[Any], Any] | None = None, accepted: str | None = None) -> tuple[Any, str] | None:
    for variable, parser in spec.envs:
        raw = os.environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        try:
            return (parser or parse or spec.parse)(raw), variable
        except _Invalid:
            _warn_env(variable, raw, name, accepted or spec.accepted, spec.mask)
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
    # protocol first: whether the endpoint may have a path depends on it
    for name in sorted(SPECS, key=lambda n: n != "protocol"):
        spec = SPECS[name]
        parse, accepted = spec.parse, _instrument_accepted() if name == "instrument" else spec.accepted
        if name == "endpoint" and values["protocol"] == "grpc":
            parse, accepted = _grpc_endpoint, _GRPC_ENDPOINT_ACCEPTED
        given = arguments.get(name)
        if given is not None:
            try:
                values[name] = parse(given)
            except _Invalid:
                raise ConfigError(name, spec.mask(given) if spec.mask is not None else given, accepted) from None
            sources[name] = "argument"
            continue
        found = _from_environment(name, spec, parse, accepted)
        if found is not None:
            values[name], sources[name] = found
        else:
            values[name], sources[name] = spec.default, "default"
    if sources["instrument"] == "default":
        values["instrument"] = _instrumentable()  # the installed contrib instrumentors too
    if sources["instrument"] != "argument":
        values["instrument"] = _instrument_from_environment(values["instrument"])
    if values["service_name"] is None:
        values["service_name"] = _service_name_from_resource_attributes() or "unknown_service:python"
    disabled = os.environ.get(env.OTEL_SDK_DISABLED, "").strip().lower() == "true"
    return Settings(**values, disabled=disabled, sources=sources, limits=limits_from_environment())


def _service_name_from_resource_attributes() -> str | None:
    for item in os.environ.get(env.OTEL_RESOURCE_ATTRIBUTES, "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            return unquote(value.strip())
    return None


def setting_names() -> tuple[str, ...]:
    """Names accepted by ``setup()``, in documentation order."""
    return tuple(f.name for f in fields(Settings) if f.name not in ("disabled", "sources", "limits"))


# --- attribute limits --------------------------------------------------------------------------


_LIMIT_ACCEPTED = "a non-negative integer"
_limit = _integer(0, sys.maxsize)


def _limit_from_environment(variable: str) -> int | None:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():  # the specification: an empty variable is an unset one
        return None
    try:
        return _limit(raw.strip())
    except _Invalid:
        _warn_env(variable, raw, "attribute limits", _LIMIT_ACCEPTED)
        return None


def limits_from_environment() -> Limits:
    """Read the ten ``OTEL_*_LIMIT`` variables; an invalid one warns once and is treated as unset."""

    def read(variable: str, fallback: int) -> int:
        value = _limit_from_environment(variable)
        return fallback if value is None else value

    count = read(env.OTEL_ATTRIBUTE_COUNT_LIMIT, DEFAULT_COUNT_LIMIT)
    length = read(env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, DEFAULT_ATTRIBUTE_VALUE_LENGTH)
    return Limits(
        attribute_count=count,
        attribute_value_length=length,
        span_attribute_count=read(env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, count),
        span_attribute_value_length=read(env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, length),
        span_event_count=read(env.OTEL_SPAN_EVENT_COUNT_LIMIT, DEFAULT_COUNT_LIMIT),
        span_link_count=read(env.OTEL_SPAN_LINK_COUNT_LIMIT, DEFAULT_COUNT_LIMIT),
        event_attribute_count=read(env.OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, count),
        link_attribute_count=read(env.OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, count),
        log_record_attribute_count=read(env.OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, count),
        log_record_attribute_value_length=read(env.OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, length),
    )


def import_sdk_safely() -> None:
    """Import ``opentelemetry.sdk.trace`` even when ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`` is invalid.

    That module parses the variable at import time (for a deprecated constant) and raises
    ValueError on a bad value, which would make ``import otel_kit`` itself fail. The variable is
    hidden for the duration of the import only; otel-kit passes explicit limits to the SDK after
    that, so the SDK never parses it again for otel-kit's providers.
    """
    variable = env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT
    raw = os.environ.get(variable)
    if "opentelemetry.sdk.trace" in sys.modules or raw is None or not raw.strip():
        return
    if _limit_from_environment(variable) is not None:
        return
    os.environ.pop(variable, None)
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    finally:
        os.environ[variable] = raw


# At import, because ``import otel_kit`` imports the SDK right after this module (see otel_kit/__init__).
import_sdk_safely()


# --- setup() arguments that are objects, not settings --------------------------------------------


class Extensions(NamedTuple):
    """The validated non-setting arguments of ``setup()``."""

    fastapi_operation_spans: bool
    span_processors: tuple[Any, ...]
    metric_readers: tuple[Any, ...]
    log_processors: tuple[Any, ...]


def _instances(setting: str, value: Any, kind: type, kind_name: str) -> tuple[Any, ...]:
    accepted = f"a list of {kind_name} instances"
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping, kind)) or not isinstance(value, Iterable):
        raise ConfigError(setting, value, f"{accepted}, not a single {type(value).__name__}")
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            # A wrong object here would raise inside the SDK on every span, metric collection or log record.
            raise ConfigError(setting, items, f"{accepted}; item {index} is a {type(item).__module__}.{type(item).__qualname__}")
    return items


def check_extensions(
    *,
    fastapi_operation_spans: Any,
    additional_span_processors: Any,
    additional_metric_readers: Any,
    additional_log_processors: Any,
) -> Extensions:
    """Validate the processor/reader lists and flags of ``setup()``; raise :class:`ConfigError`."""
    # imported here: this module stays importable before the SDK (see import_sdk_safely)
    from opentelemetry.sdk._logs import LogRecordProcessor
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor

    if fastapi_operation_spans is not None and not isinstance(fastapi_operation_spans, bool):
        raise ConfigError("fastapi_operation_spans", fastapi_operation_spans, "True or False")
    return Extensions(
        fastapi_operation_spans=fastapi_operation_spans is True,
        span_processors=_instances("additional_span_processors", additional_span_processors, SpanProcessor, "opentelemetry.sdk.trace.SpanProcessor"),
        metric_readers=_instances("additional_metric_readers", additional_metric_readers, MetricReader, "opentelemetry.sdk.metrics.export.MetricReader"),
        log_processors=_instances("additional_log_processors", additional_log_processors, LogRecordProcessor, "opentelemetry.sdk._logs.LogRecordProcessor"),
    )
