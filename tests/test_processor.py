"""The combined analysis processor: one read per span feeding health and slow-query analysis."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_kit.analysis import health as health_module
from otel_kit.analysis import slow_queries as slow_module
from otel_kit.analysis.health import HealthMonitor, SlidingWindow
from otel_kit.analysis.processor import AnalysisProcessor, span_attributes
from otel_kit.analysis.slow_queries import SlowQueryAnalyzer
from otel_kit.testing import capture

SERVER = {"http.request.method": "GET", "http.route": "/orders/{id}", "http.response.status_code": 200}


def _provider(processor: AnalysisProcessor) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider.get_tracer("test")


def _request(tracer: Any, queries: int, *, status: int = 200, db_error: bool = False) -> None:
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes={**SERVER, "http.response.status_code": status}):
        for i in range(queries):
            with tracer.start_as_current_span("SELECT shop", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": f"SELECT * FROM items WHERE id = {i}"}) as span:
                if db_error:
                    span.set_status(Status(StatusCode.ERROR))


def test_one_processor_feeds_both_analyses() -> None:
    """Server and database spans reach the health windows and the query statistics through one processor."""
    health, queries = HealthMonitor(), SlowQueryAnalyzer(n_plus_one_threshold=5)
    tracer = _provider(AnalysisProcessor(health, queries))
    _request(tracer, 6)
    _request(tracer, 1, status=503, db_error=True)
    targets = {(t.kind, t.name): t for t in health.targets()}
    assert targets[("route", "GET /orders/{id}")].requests == 2 and targets[("route", "GET /orders/{id}")].errors == 1
    assert targets[("dependency", "db postgresql shop")].requests == 7 and targets[("dependency", "db postgresql shop")].errors == 1
    (row,) = queries.report()["fingerprints"]
    assert row["fingerprint"] == "select * from items where id = ?" and row["calls"] == 7
    (suspect,) = queries.report()["n_plus_one"]
    assert suspect["count"] == 6 and suspect["route"] == "/orders/{id}"
    assert queries.statistics._per_trace == {} and queries._roots == {}


def test_standalone_processors_are_the_same_class_with_one_side() -> None:
    """HealthMonitor.processor and SlowQueryAnalyzer.processor analyse only their own side."""
    health, queries = HealthMonitor(), SlowQueryAnalyzer()
    assert isinstance(health.processor, AnalysisProcessor) and health.processor.queries is None
    assert isinstance(queries.processor, AnalysisProcessor) and queries.processor.health is None
    _request(_provider(queries.processor), 2)  # type: ignore[arg-type]
    assert health.targets() == [] and queries.report()["fingerprints"][0]["calls"] == 2


def test_http_client_and_other_spans() -> None:
    """An HTTP client span is a dependency by server.address; internal and producer spans are ignored."""
    health = HealthMonitor()
    tracer = _provider(AnalysisProcessor(health))
    with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"http.request.method": "GET", "server.address": "api.example.com", "http.response.status_code": 502}):
        pass
    with tracer.start_as_current_span("work", kind=SpanKind.INTERNAL, attributes=SERVER):
        pass
    with tracer.start_as_current_span("send", kind=SpanKind.PRODUCER):
        pass
    (target,) = health.targets()
    assert (target.name, target.requests, target.errors) == ("http api.example.com", 1, 1)


def test_route_from_span_name_when_attribute_missing() -> None:
    """Without http.route the route comes from the span name, as before the merge."""
    health = HealthMonitor()
    tracer = _provider(AnalysisProcessor(health))
    with tracer.start_as_current_span("POST /login", kind=SpanKind.SERVER, attributes={"http.method": "POST", "http.status_code": 500}):
        pass
    (target,) = health.targets()
    assert (target.name, target.errors) == ("POST /login", 1)


def test_root_database_span_leaves_no_trace_state() -> None:
    """A query with no parent span (e.g. a health check) is analysed and its per-trace count released."""
    queries = SlowQueryAnalyzer()
    tracer = _provider(AnalysisProcessor(None, queries))
    for _ in range(3):
        with tracer.start_as_current_span("SELECT 1", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite", "db.statement": "SELECT 1"}):
            pass
    assert queries.report()["fingerprints"][0]["calls"] == 3
    assert queries.statistics._per_trace == {} and queries._roots == {}


def test_span_attributes_reads_the_sdk_dict_and_plain_spans() -> None:
    """span_attributes gives the SDK's plain dict, and also works for hand-built spans."""
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("s", attributes={"a": 1}) as span:
        pass
    attributes = span_attributes(span)  # type: ignore[arg-type]
    assert type(attributes) is dict and attributes == {"a": 1}
    assert dict(span_attributes(ReadableSpan("x", attributes={"b": 2}))) == {"b": 2}
    assert dict(span_attributes(ReadableSpan("x"))) == {}


def test_failures_are_counted_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception inside the analysis is counted and never reaches the traced code."""
    health = HealthMonitor()
    processor = AnalysisProcessor(health, SlowQueryAnalyzer())

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(health, "_span_window", broken)
    _request(_provider(processor), 1)
    assert processor.failures == 2  # the database span and the server span


def test_concurrent_recording_and_reading_are_exact() -> None:
    """Four threads recording while another reads lose no request and never fail the reader."""
    window = SlidingWindow()
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        for i in range(5_000):
            window.add(1000.0 + i * 0.008, 1e-6 * (1 + 4 * i), i % 10 == 0)

    def read() -> None:
        try:
            while not done.is_set():
                window.read(1050.0, 60)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so an unlocked update would be interleaved
    try:
        reader = threading.Thread(target=read)
        reader.start()
        writers = [threading.Thread(target=write) for _ in range(4)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        reader.join()
    finally:
        sys.setswitchinterval(interval)
    count, failed, sketch = window.read(1050.0, 60)
    assert errors == [] and (count, failed, sketch.count) == (20_000, 2_000, 20_000)


def test_setup_installs_one_analysis_processor() -> None:
    """setup() feeds both analyses from a single processor and reports its failures in describe()."""
    with capture(health=True, slow_queries=True) as cap:
        telemetry = cap.telemetry
        assert telemetry.analysis is not None
        assert telemetry.analysis.health is telemetry.health and telemetry.analysis.queries is telemetry.slow_queries
        processors = telemetry.tracer_provider._active_span_processor._span_processors  # type: ignore[union-attr]
        assert sum(isinstance(p, AnalysisProcessor) for p in processors) == 1
        telemetry.analysis.failures = 3
        assert "3 spans not analysed (errors)" in telemetry.describe()
    with capture(health=False, slow_queries=False) as cap:
        assert cap.telemetry.analysis is None


def test_state_stays_bounded_under_cardinality_and_lost_roots() -> None:
    """2,000 routes and 12,000 traces whose roots never end keep targets, caches and per-trace state bounded."""
    health, queries = HealthMonitor(), SlowQueryAnalyzer()
    tracer = _provider(AnalysisProcessor(health, queries))
    for i in range(2_000):
        with tracer.start_as_current_span(f"GET /r{i}", kind=SpanKind.SERVER, attributes={"http.request.method": "GET", "http.route": f"/r{i}"}):
            pass
    assert len(health._targets) <= health_module.MAX_TARGETS and len(health._by_span) <= health_module.MAX_TARGETS
    names = {t.name for t in health.targets()}
    assert "GET /r1999" in names and "GET /r0" not in names  # the oldest went first
    for i in range(12_000):
        lost = tracer.start_span("worker", kind=SpanKind.INTERNAL)  # a root that never ends
        with tracer.start_as_current_span("SELECT", context=trace.set_span_in_context(lost), kind=SpanKind.CLIENT, attributes={"db.system": "sqlite", "db.statement": f"SELECT {i}"}):
            pass
    assert len(queries.statistics._per_trace) <= slow_module.MAX_TRACES and len(queries._roots) <= slow_module.MAX_OPEN_ROOTS


def test_consumer_and_non_http_server_spans_feed_health() -> None:
    """A Celery-style CONSUMER span is a 'task' target; a SERVER span without HTTP method is judged by its name."""
    monitor = HealthMonitor()
    provider = TracerProvider()
    provider.add_span_processor(AnalysisProcessor(health=monitor))
    tracer = provider.get_tracer("t")
    for failed in (False, True):
        with tracer.start_as_current_span("run/billing.charge", kind=SpanKind.CONSUMER, attributes={"celery.task_name": "billing.charge"}) as span:
            if failed:
                span.set_status(Status(StatusCode.ERROR))
    with tracer.start_as_current_span("/shop.Catalog/Lookup", kind=SpanKind.SERVER, attributes={"rpc.system": "grpc"}):
        pass
    targets = {(t.kind, t.name): t for t in monitor.targets()}
    assert targets[("task", "billing.charge")].requests == 2 and targets[("task", "billing.charge")].errors == 1
    assert targets[("route", "/shop.Catalog/Lookup")].requests == 1
