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
    retrying = [r for r in export_warnings if "keeping them to retry" in r.getMessage()]
    abandoned = [r for r in export_warnings if "before shutdown" in r.getMessage()]
    assert 1 <= len(retrying) <= 3  # at most one per signal per minute
    assert len(abandoned) <= 3 and len(export_warnings) == len(retrying) + len(abandoned)
    assert telemetry.dropped()["spans"] == 40  # what shutdown abandoned is counted
    grpc_noise = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert len(grpc_noise) <= 6
    print(f"collector down: slowest request {max(durations) * 1000:.1f} ms, shutdown {elapsed:.2f} s, dropped {telemetry.dropped()}")


def _installed_state() -> tuple[object, ...]:
    """What setup() installs on shared objects: global providers, root-logger handlers and level, patches."""
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.metrics import _internal as metrics_internal

    from otel_kit.instrumentation import httpclients
    from otel_kit.instrumentation import sqlalchemy as sqlalchemy_integration

    root = logging.getLogger()
    fastapi_build = None
    try:
        import fastapi

        fastapi_build = fastapi.FastAPI.build_middleware_stack
    except ImportError:
        pass
    return (
        trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER, logs_internal._LOGGER_PROVIDER,
        tuple(root.handlers), root.level, fastapi_build, sqlalchemy_integration._installed, tuple(httpclients._active),
    )


def _new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` that are still running once each had a chance to finish."""
    started = [t for t in threading.enumerate() if t not in before]
    for thread in started:
        thread.join(timeout=10)
    return [t.name for t in started if t.is_alive()]


def test_setup_failing_in_a_builder_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder raising half-way: the providers already built are stopped, nothing is installed, the error is the original."""
    before_state, before_threads = _installed_state(), set(threading.enumerate())
    with monkeypatch.context() as patch:
        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("tracer builder broke")

        patch.setattr("otel_kit.telemetry.build_tracer_provider", broken)
        # console=True starts a periodic metric reader thread before the tracer provider is built
        with pytest.raises(RuntimeError, match="tracer builder broke"):
            otel_kit.setup("atomic", exporter="none", console=True, metric_interval=3600, log_format="console", system_metrics=False)
    assert otel_kit.current() is None
    assert _installed_state() == before_state
    assert _new_threads(before_threads) == []
    with capture("atomic-again") as cap:
        with trace.get_tracer("t").start_as_current_span("after-failure"):
            pass
        assert cap.span("after-failure").resource.attributes["service.name"] == "atomic-again"


def test_setup_failing_after_instrumentation_undoes_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the logging handler and library patches are attached detaches them all."""
    before_state = _installed_state()
    with monkeypatch.context() as patch:
        def broken(telemetry: object) -> None:
            raise RuntimeError("signals broke")

        patch.setattr("otel_kit.telemetry._attach_signals", broken)
        with pytest.raises(RuntimeError, match="signals broke"):
            otel_kit.setup("atomic", exporter="none", log_format="json", system_metrics=False)
    assert otel_kit.current() is None
    assert _installed_state() == before_state
    telemetry = otel_kit.setup("atomic", exporter="none", log_format="json", system_metrics=False)
    assert otel_kit.current() is telemetry and "logging" in telemetry.instrumented
    telemetry.shutdown()


def test_setup_log_file_that_cannot_be_opened_is_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """A log file that fails to open during setup() is a ConfigError naming log_file, and everything is undone."""
    import errno
    import logging.handlers
    from pathlib import Path

    path = str(Path(str(tmp_path)) / "app.log")
    before_state, before_threads = _installed_state(), set(threading.enumerate())
    with monkeypatch.context() as patch:
        def refuse(filename: str, *args: object, **kwargs: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied", os.path.abspath(filename))

        patch.setattr(logging.handlers, "RotatingFileHandler", refuse)
        with pytest.raises(otel_kit.ConfigError) as caught:
            otel_kit.setup("atomic", exporter="none", log_format="console", log_file=path, console=True, metric_interval=3600, system_metrics=False)
    assert caught.value.setting == "log_file" and path in str(caught.value) and "Permission denied" in str(caught.value)
    assert isinstance(caught.value.__cause__, PermissionError)
    assert otel_kit.current() is None and _installed_state() == before_state and _new_threads(before_threads) == []
    with capture("atomic", log_format="json", log_file=path):
        logging.getLogger("shop").warning("written after a failed setup")
    assert "written after a failed setup" in Path(path).read_text()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("log_file", "/nonexistent/dir/app.log"),
        ("fastapi_operation_spans", "no"),
        ("additional_span_processors", [None]),
        ("additional_metric_readers", [object()]),
        ("endpoint", "not a url"),
    ],
)
def test_setup_invalid_argument_builds_nothing(setting: str, value: object) -> None:
    """An invalid argument is a ConfigError raised before anything is built or installed."""
    before_state, before_threads = _installed_state(), set(threading.enumerate())
    with pytest.raises(otel_kit.ConfigError) as caught:
        otel_kit.setup("atomic", exporter="none", console=True, metric_interval=3600, **{setting: value})
    assert caught.value.setting == setting
    assert otel_kit.current() is None and _installed_state() == before_state and _new_threads(before_threads) == []


@pytest.mark.parametrize(("environment", "bound"), [({}, 16384), ({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "100"}, 100)])
def test_attribute_values_and_log_bodies_are_bounded(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], bound: int) -> None:
    """100 KB values arrive cut to 16384 characters (or OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT) on spans, events and log records."""
    for name, raw in environment.items():
        monkeypatch.setenv(name, raw)
    big = "A" * 100_000
    with capture("bounded") as cap:
        with trace.get_tracer("t").start_as_current_span("big", attributes={"user_agent.original": big}) as span:
            span.set_attribute("http.request.header.x", [big, "short"])
            span.add_event("found", {"excerpt": big})
        logging.getLogger("shop").warning(big, extra={"payload": big})
        record = cap.span("big")
        (log,) = [r for r in cap.log_records() if isinstance(r.body, str) and r.body.startswith("AAAA")]
    assert len(record.attributes["user_agent.original"]) == bound
    assert [len(v) for v in record.attributes["http.request.header.x"]] == [bound, 5]
    assert len(record.events[0].attributes["excerpt"]) == bound
    assert len(log.attributes["payload"]) == bound and len(log.body) == bound


def test_span_specific_length_variable_applies_to_spans_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT bounds span attributes; events keep the global bound, as in the SDK."""
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "50")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "70")
    big = "B" * 100_000
    with capture("bounded") as cap:
        with trace.get_tracer("t").start_as_current_span("big", attributes={"a": big}) as span:
            span.add_event("e", {"b": big})
        logging.getLogger("shop").warning(big, extra={"c": big})
        record = cap.span("big")
        (log,) = [r for r in cap.log_records() if isinstance(r.body, str) and r.body.startswith("BBBB")]
    assert len(record.attributes["a"]) == 50 and len(record.events[0].attributes["b"]) == 16384
    assert len(log.attributes["c"]) == 70 and len(log.body) == 70


@pytest.mark.parametrize("variable", ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"])
def test_invalid_limit_variable_does_not_break_setup(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """OTEL_*_LIMIT=-1 or 'abc' no longer raises inside the SDK: setup() works with the defaults."""
    for raw in ("-1", "abc"):
        monkeypatch.setenv(variable, raw)
        with capture("limits") as cap:
            with trace.get_tracer("t").start_as_current_span("ok", attributes={"v": "x" * 20_000}):
                pass
            logging.getLogger("shop").warning("logged")
            assert len(cap.span("ok").attributes["v"]) == 16384
            assert any(r.body == "logged" for r in cap.log_records())


@pytest.mark.parametrize(
    ("given", "environment"),
    [({"headers": {"X-Api-Key": "k1"}}, {}), ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "X-Api-Key=k1"})],
)
def test_grpc_exporter_gets_lowercase_header_names(monkeypatch: pytest.MonkeyPatch, given: dict[str, object], environment: dict[str, str]) -> None:
    """X-Api-Key reaches the gRPC exporter as x-api-key, for every signal."""
    from otel_kit.export import transport

    for name, raw in environment.items():
        monkeypatch.setenv(name, raw)
    built: dict[str, dict[str, str]] = {}
    original = transport.factory

    def recording(endpoint: str, protocol: str, signal: str, **kwargs: object) -> object:
        assert protocol == "grpc"
        built[signal] = dict(kwargs["headers"])  # type: ignore[call-overload]
        return original(endpoint, protocol, signal, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transport, "factory", recording)
    telemetry = otel_kit.setup("headers", endpoint=f"http://127.0.0.1:{_closed_port()}", log_format="none", system_metrics=False, **given)
    telemetry.shutdown(timeout=2)
    assert built == {signal: {"x-api-key": "k1"} for signal in ("TRACES", "METRICS", "LOGS")}


def test_structured_log_bodies_are_bounded_and_truncation_warns_rarely(caplog: pytest.LogCaptureFixture) -> None:
    """Strings inside a map or list body are cut too; the SDK's per-value truncation warning is rate limited."""
    from opentelemetry._logs import LogRecord

    big = "C" * 50_000
    with caplog.at_level(logging.WARNING, logger="opentelemetry.attributes"):
        with capture("bounded") as cap:
            assert cap.telemetry.logger_provider is not None
            cap.telemetry.logger_provider.get_logger("t").emit(LogRecord(body={"k": big, "l": [big, 1], "n": 2}))
            for _ in range(5):
                with trace.get_tracer("t").start_as_current_span("big", attributes={"v": big}):
                    pass
            (record,) = [r for r in cap.log_records() if isinstance(r.body, dict)]
    assert len(record.body["k"]) == 16384 and len(record.body["l"][0]) == 16384
    assert record.body["l"][1] == 1 and record.body["n"] == 2
    assert len([r for r in caplog.records if "exceeds max length" in r.getMessage()]) <= 1
