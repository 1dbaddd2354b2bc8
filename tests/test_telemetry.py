"""setup()/Telemetry: idempotency, summary, bounded shutdown, collector down, fork, OTEL_SDK_DISABLED."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import otel_kit
from otel_kit.testing import capture


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_setup_twice_returns_same_and_warns_once() -> None:
    """A second setup() warns once and returns the same Telemetry; a third is silent."""
    with capture() as cap:
        with pytest.warns(RuntimeWarning, match="called again"):
            again = otel_kit.setup("other-name")
        assert again is cap.telemetry
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert otel_kit.setup() is cap.telemetry


def test_setup_twice_never_duplicates_spans() -> None:
    """After two setup() calls one span is exported exactly once."""
    with capture() as cap:
        with pytest.warns(RuntimeWarning):
            otel_kit.setup()
        with trace.get_tracer("t").start_as_current_span("only-once"):
            pass
        assert len(cap.spans_named("only-once")) == 1


def test_setup_after_shutdown_reconfigures() -> None:
    """shutdown() releases the global providers so a new setup() takes effect."""
    with capture("first") as first:
        pass
    with capture("second") as second:
        with trace.get_tracer("t").start_as_current_span("s"):
            pass
        assert second.telemetry is not first.telemetry
        assert second.span("s").resource.attributes["service.name"] == "second"


def test_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resource carries service, environment, instance, host, process and SDK attributes."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=payments,service.version=9")
    with capture("shop", service_version="1.2.3", environment="staging", resource_attributes={"region": "eu"}) as cap:
        attributes = cap.telemetry.resource.attributes
    assert attributes["service.name"] == "shop"
    assert attributes["service.version"] == "1.2.3"
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["team"] == "payments" and attributes["region"] == "eu"
    assert len(str(attributes["service.instance.id"])) == 36
    assert attributes["process.pid"] == os.getpid()
    assert "host.name" in attributes and attributes["telemetry.sdk.language"] == "python"
    assert "process.command_line" not in attributes and "process.command_args" not in attributes


def test_describe_is_readable() -> None:
    """print(telemetry) shows the service, exporters, instrumentation and drop counters."""
    with capture("shop") as cap:
        text = str(cap.telemetry)
    assert "shop" in text and "instrumented" in text and "dropped" not in text.split("traces")[0]
    assert "sampling" in text and "shutdown timeout" in text


def test_module_level_shutdown() -> None:
    """otel_kit.shutdown() closes the active configuration and is safe to repeat."""
    telemetry = otel_kit.setup("x", exporter="none", log_format="none", system_metrics=False)
    assert otel_kit.current() is telemetry
    assert otel_kit.shutdown() is True
    assert telemetry.closed and otel_kit.current() is None
    assert otel_kit.shutdown() is True


def test_sdk_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SDK_DISABLED=true gives a working no-op Telemetry and installs nothing."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = otel_kit.setup("x")
    assert telemetry.tracer_provider is None and telemetry.instrumented == []
    with telemetry.tracer.start_as_current_span("noop") as span:
        assert not span.is_recording()
    assert "disabled" in telemetry.describe()


def test_sampling_ratio_zero_records_nothing() -> None:
    """sample_ratio=0 drops root spans (parent-based sampling)."""
    with capture(sample_ratio=0.0) as cap:
        with trace.get_tracer("t").start_as_current_span("dropped"):
            pass
        assert cap.spans == []


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        _Receiver.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def otlp_http_receiver() -> Iterator[str]:
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _span_names(pid_filter: int | None = None) -> list[str]:
    names = []
    for path, body in _Receiver.bodies:
        if path != "/v1/traces":
            continue
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            pids = [a.value.int_value for a in resource_spans.resource.attributes if a.key == "process.pid"]
            if pid_filter is not None and pids != [pid_filter]:
                continue
            for scope in resource_spans.scope_spans:
                names += [span.name for span in scope.spans]
    return names


def test_otlp_http_export_and_scrubbing(otlp_http_receiver: str) -> None:
    """Spans reach a real OTLP/HTTP endpoint, with secrets scrubbed on the way out."""
    telemetry = otel_kit.setup("http-svc", endpoint=otlp_http_receiver, protocol="http/protobuf", log_format="none", system_metrics=False, metrics=False, logs=False)
    with telemetry.tracer.start_as_current_span("secretive", attributes={"http.request.header.authorization": "Bearer abcdefghijklmnop", "note": "card 4111 1111 1111 1111"}):
        pass
    assert telemetry.force_flush(5)
    request = ExportTraceServiceRequest.FromString(next(b for p, b in _Receiver.bodies if p == "/v1/traces"))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    values = {a.key: a.value.string_value for a in span.attributes}
    assert values["http.request.header.authorization"] == "[REDACTED]"
    assert "4111" not in values["note"]
    assert telemetry.dropped()["spans"] == 0


def test_fork_child_exports_with_its_own_exporter(otlp_http_receiver: str) -> None:
    """A forked worker exports its own spans through a fresh exporter (gunicorn --preload case)."""
    telemetry = otel_kit.setup("forky", endpoint=otlp_http_receiver, protocol="http/protobuf", log_format="none", system_metrics=False, metrics=False, logs=False, instrument=[])
    with telemetry.tracer.start_as_current_span("in-parent"):
        pass
    telemetry.force_flush(5)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            with trace.get_tracer("child").start_as_current_span("in-child"):
                pass
            code = 0 if telemetry.force_flush(5) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "in-child" in _span_names(pid_filter=pid), "child span not exported with the child's pid"
    assert "in-parent" in _span_names(pid_filter=os.getpid())
    assert "in-child" not in _span_names(pid_filter=os.getpid())


def test_collector_down_never_slows_requests_and_shutdown_is_bounded(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing listening: setup succeeds, requests stay fast, warnings are rate limited, shutdown is bounded."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    port = _closed_port()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    caplog.set_level(logging.WARNING)
    telemetry = otel_kit.setup(
        "down-svc", endpoint=f"http://127.0.0.1:{port}", shutdown_timeout=2.0, export_timeout=0.5, log_format="none", metric_interval=0.2, system_metrics=False
    )
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        logging.getLogger("app").warning("ping served")
        return {"ok": "yes"}

    client = TestClient(app)
    durations = []
    for _ in range(40):
        started = time.perf_counter()
        assert client.get("/ping").status_code == 200
        durations.append(time.perf_counter() - started)
        time.sleep(0.02)
    time.sleep(1.5)  # let the batch and metric threads fail against the closed port
    # Generous bound: the exporter's own timeout is 10 s; a blocked request would take seconds.
    assert max(durations) < 1.0, f"slowest request {max(durations):.3f} s"
    started = time.perf_counter()
    telemetry.shutdown()
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0 + 1.5, f"shutdown took {elapsed:.2f} s"
    export_warnings = [r for r in caplog.records if r.name == "otel_kit.export"]
    assert 1 <= len(export_warnings) <= 3  # at most one per signal per minute
    grpc_noise = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert len(grpc_noise) <= 6
    print(f"collector down: slowest request {max(durations) * 1000:.1f} ms, shutdown {elapsed:.2f} s, dropped {telemetry.dropped()}")
