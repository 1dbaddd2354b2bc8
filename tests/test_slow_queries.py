"""Slow-query analysis: fingerprints stats, slow events/logs/counters, N+1 detection, offline report."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import ForeignKey, create_engine, event, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

import otel_kit
from otel_kit.analysis.slow_queries import N_PLUS_ONE_EVENT, SLOW_EVENT, QueryStatistics, analyze_jaeger_traces
from otel_kit.testing import capture


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    title: Mapped[str]


def _engine() -> Any:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def add_sleep(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for i in range(12):
            session.add(Author(id=i, name=f"author {i}"))
            session.add(Book(author_id=i, title=f"book {i}"))
        session.commit()
    return engine


def _app(engine: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    def slow() -> dict[str, int]:
        with engine.connect() as connection:
            connection.execute(text("SELECT sleep_ms(80)")).all()
        return {}

    @app.get("/authors")
    def authors() -> list[dict[str, Any]]:
        result = []
        with Session(engine) as session:
            for author in session.scalars(select(Author)):
                books = session.scalars(select(Book).where(Book.author_id == author.id)).all()  # the N+1
                result.append({"name": author.name, "books": len(books)})
        return result

    return app


def test_slow_query_event_log_and_counter() -> None:
    """A query over the threshold gets a span event, a warning log record with fingerprint and trace id, and a count."""
    engine = _engine()
    with capture(slow_query_ms=50) as cap:
        TestClient(_app(engine)).get("/slow")
        (query,) = [s for s in cap.spans if s.attributes.get("db.query.text", "").startswith("SELECT sleep_ms")]
        events = [e for e in query.events if e.name == SLOW_EVENT]
        assert len(events) == 1 and events[0].attributes["db.query.fingerprint"] == "select sleep_ms(?)"
        (record,) = cap.log_records("db.query.slow")
        assert record.attributes["trace_id"] == format(query.context.trace_id, "032x")
        assert record.trace_id == query.context.trace_id and record.severity_text == "WARN"
        assert cap.metric_value("db.client.slow_queries") == 1
        report = otel_kit.slow_query_report(top=5)
        top = report["fingerprints"][0]
        assert top["fingerprint"] == "select sleep_ms(?)" and top["max_ms"] >= 80 and top["slow_calls"] == 1
        assert top["slowest_trace_id"] == format(query.context.trace_id, "032x")


def test_orm_n_plus_one_reported_once_per_trace() -> None:
    """An ORM N+1 (12 identical selects in one request) is reported once, naming the route and count."""
    engine = _engine()
    with capture() as cap:
        client = TestClient(_app(engine))
        client.get("/authors")
        client.get("/authors")
        records = cap.log_records("db.query.n_plus_one")
        assert len(records) == 2  # one per trace, not one per query past the threshold
        assert records[0].attributes["http.route"] == "/authors" and records[0].attributes["db.query.count"] == 10
        assert "books" in records[0].attributes["db.query.fingerprint"]
        roots = [s for s in cap.spans if s.attributes.get("http.route") == "/authors" and s.parent is None]
        assert all(any(e.name == N_PLUS_ONE_EVENT for e in root.events) for root in roots)
        assert cap.metric_value("db.client.n_plus_one", http__route="/authors") == 2
        suspects = otel_kit.slow_query_report()["n_plus_one"]
        assert suspects and suspects[-1]["count"] == 12  # final count once the request finished


def test_report_ordering_and_validation() -> None:
    """The report orders by total, p95, max or calls; an unknown order is a ConfigError."""
    stats = QueryStatistics(slow_ms=100)
    for _ in range(10):
        stats.add("SELECT * FROM a WHERE id = 1", 0.001, "t1")
    stats.add("SELECT * FROM b WHERE id = 2", 0.5, "t2", rows=3)
    assert stats.report(order="total")["fingerprints"][0]["fingerprint"].endswith("from b where id = ?")
    assert stats.report(order="calls")["fingerprints"][0]["calls"] == 10
    assert stats.report(order="max")["fingerprints"][0]["rows"] == 3
    with pytest.raises(otel_kit.ConfigError, match="order"):
        stats.report(order="fastest")


def test_fingerprints_bounded_by_lru() -> None:
    """Memory is bounded: old fingerprints are evicted past the limit."""
    stats = QueryStatistics(max_fingerprints=50)
    for i in range(200):
        stats.add(f"SELECT c{i} FROM t", 0.001, "")
    report = stats.report(top=1000)
    assert len(report["fingerprints"]) == 50 and report["evicted_fingerprints"] == 150


def _jaeger_trace(trace_id: str, queries: list[tuple[str, int]]) -> dict[str, Any]:
    spans = [{"traceID": trace_id, "spanID": "root", "operationName": "GET /orders", "references": [], "startTime": 0, "duration": 900_000,
              "tags": [{"key": "span.kind", "value": "server"}, {"key": "http.route", "value": "/orders"}]}]
    for index, (statement, micros) in enumerate(queries):
        spans.append({"traceID": trace_id, "spanID": f"q{index}", "operationName": "SELECT", "startTime": index + 1, "duration": micros,
                      "references": [{"refType": "CHILD_OF", "spanID": "root"}],
                      "tags": [{"key": "db.system.name", "value": "postgresql"}, {"key": "db.query.text", "value": statement}]})
    return {"traceID": trace_id, "spans": spans}


def test_offline_analysis_of_jaeger_json() -> None:
    """The offline analysis reads Jaeger's trace JSON: slow queries, percentiles and N+1 by route."""
    traces = [
        _jaeger_trace("a" * 32, [("SELECT * FROM orders WHERE id = 1", 700_000)] + [(f"SELECT * FROM items WHERE order_id = {i}", 1000) for i in range(11)]),
        _jaeger_trace("b" * 32, [("SELECT * FROM orders WHERE id = 2", 300_000)]),
    ]
    stats = analyze_jaeger_traces(traces, slow_ms=500, n_plus_one_threshold=10)
    report = stats.report(order="total")
    orders = next(f for f in report["fingerprints"] if "from orders" in f["fingerprint"])
    assert orders["calls"] == 2 and orders["slow_calls"] == 1 and orders["slowest_trace_id"] == "a" * 32
    (suspect,) = report["n_plus_one"]
    assert suspect["route"] == "/orders" and suspect["count"] == 10 and "from items" in suspect["fingerprint"]


def test_cli_report_from_jaeger(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """otel-kit slow-queries prints tables, or JSON with --json."""
    from otel_kit.cli import backends, main

    traces = [_jaeger_trace("c" * 32, [("SELECT * FROM users WHERE id = 5", 600_000)])]
    monkeypatch.setattr(backends, "jaeger_traces", lambda *args, **kwargs: traces)
    assert main.main(["slow-queries", "--service", "shop"]) == 0
    out = capsys.readouterr().out
    assert "Top 10 by total time" in out and "select * from users where id = ?" in out and "N+1 suspects" in out
    assert main.main(["slow-queries", "--service", "shop", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by_p95"][0]["slow_calls"] == 1
    with pytest.raises(SystemExit, match="lookback"):
        main.main(["slow-queries", "--service", "shop", "--lookback", "forever"])


def test_slow_query_endpoint_opt_in() -> None:
    """The opt-in endpoint serves the report, protected by a token when given."""
    app = FastAPI()
    app.include_router(otel_kit.slow_query_router(token="t"))
    with capture():
        client = TestClient(app)
        assert client.get("/debug/slow-queries").status_code == 401
        response = client.get("/debug/slow-queries?order=p95", headers={"Authorization": "Bearer t"})
        assert response.status_code == 200 and response.json()["order"] == "p95"
        assert client.get("/debug/slow-queries?order=nope", headers={"Authorization": "Bearer t"}).status_code == 400


def test_redis_is_timed_but_never_an_n_plus_one() -> None:
    """Redis commands count in the report but never raise an N+1; the same count of SQL statements does."""
    from opentelemetry.trace import SpanKind

    with capture(n_plus_one_threshold=3) as cap:
        tracer = cap.telemetry.tracer
        with tracer.start_as_current_span("GET /cart"):
            for _ in range(4):
                with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"db.system.name": "redis", "db.query.text": "GET ?"}):
                    pass
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql", "db.query.text": "SELECT 1"}):
                    pass
        report = otel_kit.slow_query_report()
        assert {row["fingerprint"]: row["calls"] for row in report["fingerprints"]} == {"get ?": 4, "select ?": 4}
        assert [n["fingerprint"] for n in report["n_plus_one"]] == ["select ?"]


def test_n_plus_one_route_is_the_root_span_route_once_known() -> None:
    """An N+1 detected before the server span knew its route is reported with the route when the span ends."""
    from opentelemetry.trace import SpanKind

    with capture(n_plus_one_threshold=2) as cap:
        tracer = cap.telemetry.tracer
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.request.method": "GET"}) as root:
            for _ in range(3):
                with tracer.start_as_current_span("q", kind=SpanKind.CLIENT, attributes={"db.system.name": "sqlite", "db.query.text": "SELECT 2"}):
                    pass
            root.set_attribute("http.route", "/orders")
        assert otel_kit.slow_query_report()["n_plus_one"][0]["route"] == "/orders"
