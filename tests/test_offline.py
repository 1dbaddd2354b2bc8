"""Offline analysis: Jaeger JSON turned into SDK spans and judged by the live health code."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_kit.analysis.health import HealthMonitor, HealthPolicy
from otel_kit.analysis.health import Status as Health
from otel_kit.analysis.offline import health_from_jaeger, spans_from_jaeger
from otel_kit.analysis.processor import AnalysisProcessor

NOW = 1_800_000_000.0


def _span(trace: int, span: int, name: str, end: float, duration_ms: float, tags: dict[str, Any], parent: int | None = None) -> dict[str, Any]:
    start_us = int((end - duration_ms / 1000) * 1e6)
    return {
        "traceID": f"{trace:032x}", "spanID": f"{span:016x}", "operationName": name, "startTime": start_us, "duration": int(duration_ms * 1000),
        "references": [{"refType": "CHILD_OF", "traceID": f"{trace:032x}", "spanID": f"{parent:016x}"}] if parent else [],
        "tags": [{"key": k, "value": v} for k, v in tags.items()], "processID": "p1",
    }


def _request(i: int, end: float, route: str = "/orders", code: int = 200, query_ms: float = 2.0) -> dict[str, Any]:
    server = {"span.kind": "server", "http.request.method": "GET", "http.route": route, "http.response.status_code": code}
    if code >= 500:
        server["otel.status_code"] = "ERROR"
    db = {"span.kind": "client", "db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": "SELECT 1"}
    return {"traceID": f"{i:032x}", "spans": [_span(i, 1, f"GET {route}", end, 20, server), _span(i, 2, "SELECT shop", end - 0.005, query_ms, db, parent=1)]}


def test_spans_keep_kind_status_attributes_times_and_parent() -> None:
    """Jaeger tags become span fields (kind, status) or attributes; times are nanoseconds."""
    server, db = spans_from_jaeger(_request(7, NOW, code=503))
    assert server.kind is SpanKind.SERVER and server.status.status_code is StatusCode.ERROR
    assert dict(server.attributes or {}) == {"http.request.method": "GET", "http.route": "/orders", "http.response.status_code": 503}
    assert server.end_time == int(NOW * 1e6) * 1000 and server.end_time - server.start_time == 20_000_000  # type: ignore[operator]
    assert server.parent is None and db.parent is not None and db.parent.span_id == 1 and db.context.trace_id == 7
    assert db.kind is SpanKind.CLIENT and db.status.status_code is StatusCode.UNSET
    legacy = spans_from_jaeger({"spans": [_span(1, 1, "x", NOW, 1, {"span.kind": "bogus", "error": True})]})[0]
    assert legacy.kind is SpanKind.INTERNAL and legacy.status.status_code is StatusCode.ERROR


def test_health_matches_the_live_processor() -> None:
    """Requests recorded live by the SDK and the same requests read back from Jaeger get the same verdict."""
    requests = [(i, NOW - 100 + i, "/fail" if i % 4 == 0 else "/orders", 500 if i % 4 == 0 else 200) for i in range(1, 81)]
    offline = health_from_jaeger([_request(i, end, route, code) for i, end, route, code in requests], now=NOW)
    live = HealthMonitor()
    provider = TracerProvider()
    provider.add_span_processor(AnalysisProcessor(health=live))
    tracer = provider.get_tracer("t")
    for _, end, route, code in requests:
        end_ns = int(end * 1e9)
        server = tracer.start_span(f"GET {route}", kind=SpanKind.SERVER, start_time=end_ns - 20_000_000, attributes={"http.request.method": "GET", "http.route": route, "http.response.status_code": code})
        if code >= 500:
            server.set_status(Status(StatusCode.ERROR))
        db = tracer.start_span("SELECT shop", kind=SpanKind.CLIENT, start_time=end_ns - 7_000_000, attributes={"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": "SELECT 1"})
        db.end(end_time=end_ns - 5_000_000)
        server.end(end_time=end_ns)
    live.clock = lambda: NOW

    def key(t: Any) -> tuple[str, str]:
        return (t.kind, t.name)

    assert sorted(map(key, offline.targets())) == sorted(map(key, live.targets())) == [("dependency", "db postgresql shop"), ("route", "GET /fail"), ("route", "GET /orders")]
    for a, b in zip(sorted(offline.targets(), key=key), sorted(live.targets(), key=key), strict=True):
        assert (a.requests, a.errors, a.status, a.reason) == (b.requests, b.errors, b.status, b.reason)
        assert abs(a.p95_ms - b.p95_ms) <= 0.01 * b.p95_ms
    status, _, _, reasons = offline.evaluate()
    assert status is Health.UNHEALTHY and reasons == ["GET /fail: 100% errors over 5m, threshold 5%"]


def test_window_edges_and_policy() -> None:
    """Spans older than the window or after `now` are left out; the 1m window and a custom policy apply."""
    traces = [_request(i, NOW - 200, "/old", 500) for i in range(1, 31)]  # inside 5m, outside 1m
    traces += [_request(100, NOW + 10, "/future", 500), _request(101, NOW - 400, "/ancient", 500)]
    traces += [_request(200 + i, NOW - 10, "/slow", 200, query_ms=3) for i in range(5)]
    five = health_from_jaeger(traces, HealthPolicy(min_requests=5), now=NOW)
    names = {t.name: t for t in five.targets()}
    assert set(names) == {"GET /old", "GET /slow", "db postgresql shop"} and names["GET /old"].status is Health.UNHEALTHY
    one = health_from_jaeger(traces, HealthPolicy(min_requests=5, window="1m", p95_degraded_ms=2.5, p95_unhealthy_ms=10), now=NOW)
    judged = {t.name: t for t in one.targets() if t.requests}
    assert set(judged) == {"GET /slow", "db postgresql shop"} and judged["db postgresql shop"].status is Health.DEGRADED
