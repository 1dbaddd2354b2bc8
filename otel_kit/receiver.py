"""An in-process OTLP receiver (gRPC or HTTP) on 127.0.0.1, for tests and fault drills.

It decodes what arrives and can misbehave on purpose, on the same port: answer "unavailable"
(gRPC UNAVAILABLE / HTTP 503), refuse connections (nothing listening), or blackhole them (a socket
that accepts TCP connections and never answers)::

    with Receiver("grpc") as receiver:
        otel_kit.setup(service_name="svc", endpoint=receiver.endpoint)
        ...
        receiver.set_mode("closed")     # a collector outage
        receiver.set_mode("accept")     # it is back
        assert receiver.wait_for_spans(200)
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MODES = ("accept", "unavailable", "closed", "blackhole")
_SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
}
_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    name: str
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]
    service: str
    parent_span_id: str = ""
    kind: int = 0  # the OTLP enum: 1 internal, 2 server, 3 client, 4 producer, 5 consumer


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


class Receiver:
    """Collects OTLP requests; ``set_mode`` simulates outages."""

    def __init__(self, protocol: str = "grpc", port: int = 0) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        self.protocol = protocol
        self.port = port or _free_port()
        self.mode = "closed"
        self.payloads: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._blackhole: socket.socket | None = None
        self._held: list[socket.socket] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Receiver:
        self.set_mode("accept")
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop_server()
        self._stop_blackhole()
        self.mode = "closed"

    def set_mode(self, mode: str) -> None:
        """``accept``, ``unavailable`` (answers 503/UNAVAILABLE), ``closed`` (refused) or ``blackhole``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode in ("accept", "unavailable"):
            self._stop_blackhole()
            if self._server is None:
                self._start_server()
        elif mode == "closed":
            self._stop_server()
            self._stop_blackhole()
        else:
            self._stop_server()
            self._start_blackhole()
        self.mode = mode

    def _start_server(self) -> None:
        if self.protocol == "grpc":
            self._server = _grpc_server(self)
        else:
            self._server = _http_server(self)

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if self.protocol == "grpc":
            server.stop(grace=None).wait(5)
        else:
            server.shutdown()
            server.server_close()
            # Keep-alive connections outlive the listener; a real outage closes them too.
            with self._lock:
                held, self._held = self._held, []
            for connection in held:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _start_blackhole(self) -> None:
        if self._blackhole is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # The kernel completes handshakes into the backlog; nobody ever reads or answers.
        listener.listen(1024)
        self._blackhole = listener

    def _stop_blackhole(self) -> None:
        listener, self._blackhole = self._blackhole, None
        if listener is not None:
            listener.close()

    # --- data ----------------------------------------------------------------------------

    def _record(self, signal: str, payload: bytes) -> None:
        with self._lock:
            self.payloads.append((signal, payload))

    def raw(self) -> bytes:
        """Every payload received, concatenated (to search for strings that must not be there)."""
        with self._lock:
            return b"".join(p for _, p in self.payloads)

    def _requests(self, signal: str) -> list[bytes]:
        with self._lock:
            return [p for s, p in self.payloads if s == signal]

    def spans(self) -> list[ReceivedSpan]:
        result = []
        for payload in self._requests("traces"):
            request = ExportTraceServiceRequest.FromString(payload)
            for resource_spans in request.resource_spans:
                service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        result.append(ReceivedSpan(
                            span.trace_id.hex(), span.span_id.hex(), span.name, _attributes(span.attributes),
                            tuple((e.name, _attributes(e.attributes)) for e in span.events), service,
                            span.parent_span_id.hex(), int(span.kind),
                        ))
        return result

    def log_records(self) -> list[dict[str, Any]]:
        result = []
        for payload in self._requests("logs"):
            request = ExportLogsServiceRequest.FromString(payload)
            for resource_logs in request.resource_logs:
                for scope in resource_logs.scope_logs:
                    for record in scope.log_records:
                        result.append({"body": _value(record.body), "attributes": _attributes(record.attributes), "event_name": record.event_name})
        return result

    def metric_points(self) -> Iterator[tuple[str, Any]]:
        """``(metric name, data point)`` for every point received."""
        for payload in self._requests("metrics"):
            request = ExportMetricsServiceRequest.FromString(payload)
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        if kind is None:
                            continue
                        for point in getattr(metric, kind).data_points:
                            yield metric.name, point

    def metric_names(self) -> set[str]:
        return {name for name, _ in self.metric_points()}

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll ``predicate()`` until it is true or ``timeout`` passes."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda: len(self.spans()) >= count, timeout)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _grpc_server(receiver: Receiver) -> Any:
    import grpc

    def handler(signal: str) -> Any:
        def export(request: bytes, context: Any) -> bytes:
            if receiver.mode == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "receiver is unavailable on purpose")
            receiver._record(signal, request)
            return b""  # an empty Export*ServiceResponse

        return grpc.unary_unary_rpc_method_handler(export)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for service, signal in _SERVICES.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler(signal)}),))
    deadline = time.monotonic() + 5
    while server.add_insecure_port(f"127.0.0.1:{receiver.port}") == 0:
        if time.monotonic() > deadline:
            raise OSError(f"cannot bind 127.0.0.1:{receiver.port}")
        time.sleep(0.05)
    server.start()
    return server


def _http_server(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with receiver._lock:
                receiver._held.append(self.connection)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            signal = _PATHS.get(self.path.split("?")[0])
            if signal is None:
                self._answer(404)
                return
            if receiver.mode == "unavailable":
                self._answer(503)
                return
            receiver._record(signal, body)
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    deadline = time.monotonic() + 5
    while True:
        try:
            server = Server(("127.0.0.1", receiver.port), Handler)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    threading.Thread(target=server.serve_forever, name="otel-kit-receiver", daemon=True).start()
    return server
