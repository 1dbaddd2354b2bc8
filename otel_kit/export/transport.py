"""Send one encoded OTLP request over gRPC or HTTP, once, and say whether to retry it.

otel-kit sends the bytes itself instead of through the SDK's exporters because those retry
inside ``export()`` with sleeps of up to the whole export timeout: the batch thread stalls, a
closed port costs the full shutdown budget, and a failed batch is gone. Here a send is a single
attempt; retrying, ordering and buffering belong to :mod:`otel_kit.export.outbox`.
"""

from __future__ import annotations

import enum
import gzip
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from otel_kit.config import environment as env

_log = logging.getLogger("otel_kit.export")

GRPC_METHODS = {
    "TRACES": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "METRICS": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "LOGS": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
# OTLP/HTTP: these statuses mean "try again later"; every other non-2xx is permanent.
RETRYABLE_HTTP = frozenset({408, 429, 502, 503, 504})
USER_AGENT = "otel-kit"


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Result:
    """What one attempt did; ``detail`` is a short reason for warnings, never the payload."""

    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None


class Transport(Protocol):
    def send(self, payload: bytes, timeout: float) -> Result: ...

    def close(self) -> None: ...


def _read_file(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        _log.warning("otel-kit: cannot read TLS file %s (%s); using the system defaults", path, exc)
        return None


def _signal_env(name: str, signal: str) -> str | None:
    """Per-signal variable first (``OTEL_EXPORTER_OTLP_TRACES_COMPRESSION``), then the general one."""
    return os.environ.get(env.per_signal(name, signal)) or os.environ.get(name) or None


class GrpcTransport:
    """Unary OTLP/gRPC calls with pre-encoded bytes (no serializer: grpc sends them as they are)."""

    def __init__(self, endpoint: str, signal: str, *, headers: Mapping[str, str], insecure: bool, compression: str | None = None) -> None:
        import grpc

        parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
        self._target = parts.netloc.rpartition("@")[2] or "127.0.0.1:4317"
        self._method = GRPC_METHODS[signal]
        self._credentials = None
        if not insecure:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_file(_signal_env(env.OTEL_EXPORTER_OTLP_CERTIFICATE, signal)),
                private_key=_read_file(_signal_env(env.OTEL_EXPORTER_OTLP_CLIENT_KEY, signal)),
                certificate_chain=_read_file(_signal_env(env.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, signal)),
            )
        # gRPC metadata keys must be lowercase; a capital letter fails every call with "Invalid metadata".
        self._metadata = tuple((key.lower(), value) for key, value in headers.items())
        self._compression = grpc.Compression.Gzip if compression == "gzip" else None
        self._grpc = grpc
        self._open()

    def _open(self) -> None:
        grpc = self._grpc
        # A channel that failed to connect waits out its own reconnect backoff (up to 2 minutes)
        # and fails every call meanwhile, even after the collector is back: cap it.
        options = [("grpc.max_reconnect_backoff_ms", 2000), ("grpc.initial_reconnect_backoff_ms", 100)]
        if self._credentials is None:
            self._channel = grpc.insecure_channel(self._target, options=options)
        else:
            self._channel = grpc.secure_channel(self._target, self._credentials, options=options)
        self._call = self._channel.unary_unary(self._method)

    def send(self, payload: bytes, timeout: float) -> Result:
        grpc = self._grpc
        try:
            self._call(payload, timeout=max(timeout, 0.001), metadata=self._metadata, compression=self._compression)
            return Result(Outcome.SENT)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            name = getattr(code, "name", str(code))
            retryable = code in (
                grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DATA_LOSS,
            )
            if code == grpc.StatusCode.UNAVAILABLE:
                # Start the next attempt on a fresh connection instead of the channel's backoff.
                self._channel.close()
                self._open()
            return Result(Outcome.RETRY if retryable else Outcome.REJECTED, f"gRPC {name}")

    def close(self) -> None:
        self._channel.close()


class HttpTransport:
    """OTLP/HTTP protobuf POSTs on a keep-alive session."""

    def __init__(self, url: str, signal: str, *, headers: Mapping[str, str], compression: str | None = None) -> None:
        import requests

        self._url = url
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT})
        self._session.headers.update(dict(headers))
        certificate = _signal_env(env.OTEL_EXPORTER_OTLP_CERTIFICATE, signal)
        if certificate:
            self._session.verify = certificate
        client_cert = _signal_env(env.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, signal)
        client_key = _signal_env(env.OTEL_EXPORTER_OTLP_CLIENT_KEY, signal)
        if client_cert:
            self._session.cert = (client_cert, client_key) if client_key else client_cert
        self._gzip = compression == "gzip"
        if self._gzip:
            self._session.headers["Content-Encoding"] = "gzip"
        self._requests = requests

    def send(self, payload: bytes, timeout: float) -> Result:
        body = gzip.compress(payload, compresslevel=6) if self._gzip else payload
        try:
            response = self._session.post(self._url, data=body, timeout=max(timeout, 0.001))
        except self._requests.RequestException as exc:
            return Result(Outcome.RETRY, type(exc).__name__)
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Result(Outcome.SENT)
        if status in RETRYABLE_HTTP:
            return Result(Outcome.RETRY, f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))
        return Result(Outcome.REJECTED, f"HTTP {status}")

    def close(self) -> None:
        self._session.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), 300.0)


def compression_for(signal: str) -> str | None:
    """``gzip`` or None from OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION; anything else warns once."""
    raw = _signal_env(env.OTEL_EXPORTER_OTLP_COMPRESSION, signal)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("gzip", "none", ""):
        return value if value == "gzip" else None
    _log.warning("otel-kit: ignoring %s=%r: expected 'gzip' or 'none'; sending uncompressed", env.OTEL_EXPORTER_OTLP_COMPRESSION, raw)
    return None


def factory(endpoint: str, protocol: str, signal: str, *, headers: Mapping[str, str], insecure: bool | None) -> Callable[[], Any]:
    """A constructor for the transport of one signal; called lazily and again after fork."""
    compression = compression_for(signal)
    plain = insecure if insecure is not None else endpoint.startswith("http://")
    if protocol == "grpc":
        return lambda: GrpcTransport(endpoint, signal, headers=headers, insecure=plain, compression=compression)
    return lambda: HttpTransport(endpoint, signal, headers=headers, compression=compression)
