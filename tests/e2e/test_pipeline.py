"""End to end against the real Collector, Jaeger, Prometheus and Loki (started by the `stack` fixture)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from opentelemetry import trace as trace_api
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import StaticPool

import otel_kit
from otel_kit.cli import backends

pytestmark = pytest.mark.e2e
TIMEOUT = 90.0


def _setup(stack: Any, service: str, **settings: Any) -> otel_kit.Telemetry:
    return otel_kit.setup(service, endpoint=stack.otlp_grpc, metric_interval=1.0, log_format="none", **settings)


def _engine() -> Any:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def add_sleep(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)"))
    return engine


def _app(engine: Any) -> FastAPI:
    app = FastAPI()
    orders = otel_kit.counter("e2e.orders", unit="{order}", description="orders placed in the e2e app")

    @app.post("/orders/{order_id}")
    def place(order_id: int) -> dict[str, Any]:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO orders (id, total) VALUES (:id, 9.5)"), {"id": order_id})
        orders.add(1, {"channel": "web"})
        logging.getLogger("e2e.shop").warning("order placed %s", order_id)
        return {"id": order_id, "trace_id": _current_trace_id()}

    @app.get("/report")
    def report() -> dict[str, str]:
        with engine.connect() as connection:
            connection.execute(text("SELECT sleep_ms(120), count(*) FROM orders")).all()
        return {"trace_id": _current_trace_id()}

    @app.get("/fail")
    def fail() -> None:
        raise HTTPException(500, "broken")

    return app


def _current_trace_id() -> str:
    return format(trace_api.get_current_span().get_span_context().trace_id, "032x")


def _trace_id_of(client: TestClient, method: str, path: str) -> str:
    """The trace id of one request, as reported by the app (no client span: the request is a root)."""
    return str(client.request(method, path).json()["trace_id"])


def test_request_reaches_jaeger_prometheus_and_loki(stack: Any) -> None:
    """One request: trace with server + DB child in Jaeger, HTTP and custom metrics in Prometheus, correlated log in Loki."""
    service = f"e2e-shop-{uuid.uuid4().hex[:8]}"
    telemetry = _setup(stack, service, system_metrics=False)
    client = TestClient(_app(_engine()))
    trace_id = _trace_id_of(client, "POST", "/orders/1")
    for order in range(2, 6):
        client.post(f"/orders/{order}")
    time.sleep(1.5)
    assert telemetry.force_flush(10)
    telemetry.shutdown(10)

    trace = backends.wait_for(lambda: backends.jaeger_trace(stack.jaeger_url, trace_id), TIMEOUT)
    assert trace is not None, f"trace {trace_id} not in Jaeger"
    processes = trace["processes"]
    spans = {s["spanID"]: s for s in trace["spans"]}
    server = next(s for s in spans.values() if s["operationName"] == "POST /orders/{order_id}")
    assert processes[server["processID"]]["serviceName"] == service
    tags = {t["key"]: t["value"] for t in server["tags"]}
    assert tags["http.route"] == "/orders/{order_id}" and tags["span.kind"] == "server"
    db = next(s for s in spans.values() if s["operationName"] == "INSERT orders")
    assert any(ref["spanID"] == server["spanID"] for ref in db["references"])
    db_tags = {t["key"]: t["value"] for t in db["tags"]}
    assert db_tags["db.query.text"] == "INSERT INTO orders (id, total) VALUES (?, ?)"

    duration = backends.wait_for(lambda: backends.prometheus_query(stack.prometheus_url, f'http_server_request_duration_seconds_count{{job="{service}"}}'), TIMEOUT)
    assert duration and sum(float(r["value"][1]) for r in duration) == 5
    orders = backends.wait_for(lambda: backends.prometheus_query(stack.prometheus_url, f'e2e_orders_total{{job="{service}"}}'), TIMEOUT)
    assert orders and float(orders[0]["value"][1]) == 5 and orders[0]["metric"]["channel"] == "web"
    spanmetrics = backends.wait_for(lambda: backends.prometheus_query(stack.prometheus_url, f'traces_span_metrics_calls_total{{service_name="{service}"}}'), TIMEOUT)
    assert spanmetrics and any(r["metric"].get("http_route") == "/orders/{order_id}" for r in spanmetrics)

    logs = backends.wait_for(lambda: backends.loki_query(stack.loki_url, f'{{service_name="{service}"}} |= "order placed 1"'), TIMEOUT)
    assert logs, "log line not in Loki"
    assert logs[0]["labels"].get("trace_id") == trace_id


def test_signal_families_in_prometheus_and_loki(stack: Any) -> None:
    """Business, security, AI, system and health metrics reach Prometheus; security events reach Loki."""
    service = f"e2e-signals-{uuid.uuid4().hex[:8]}"
    telemetry = _setup(stack, service, system_metrics=True)
    app = _app(_engine())
    app.include_router(otel_kit.health_router())
    client = TestClient(app)
    client.post("/orders/1")
    client.get("/orders", params={"q": "' UNION SELECT password FROM users--"})
    for _ in range(5):
        otel_kit.security.auth_attempt("mallory", "203.0.113.9", False, reason="bad password")
    with otel_kit.ai.operation("openai", "gpt-4o-mini") as op:
        assert op is not None
        op.record(input_tokens=120, output_tokens=30, response_model="gpt-4o-mini")
    # a priced model whose whole spend happens before the first export: the report must still count it
    otel_kit.ai.set_price("e2e-model", input_per_million=1000, output_per_million=4000, cache_read_per_million=100)
    for _ in range(2):
        with otel_kit.ai.operation("openai", "e2e-model") as op:
            assert op is not None
            op.record(input_tokens=1000, cache_read_tokens=400, output_tokens=250, reasoning_tokens=50, response_model="e2e-model")
    client.get("/health/ready")
    time.sleep(2.5)
    telemetry.force_flush(10)
    telemetry.shutdown(10)

    expected = {
        "business": f'e2e_orders_total{{job="{service}"}}',
        "security": f'security_events_total{{job="{service}", security_event_type="brute_force"}}',
        "auth": f'security_auth_attempts_total{{job="{service}", security_auth_result="failure"}}',
        "ai tokens": f'gen_ai_client_token_usage_count{{job="{service}", gen_ai_token_type="input"}}',
        "ai cost": f'otel_kit_ai_cost_USD_total{{job="{service}"}}',
        "system": f'process_memory_usage_bytes{{job="{service}"}}',
        "cpu": f'system_cpu_utilization_ratio{{job="{service}"}}',
        "health": f'otel_kit_health_status{{job="{service}", target_kind="overall"}}',
    }
    missing = [name for name, query in expected.items() if not backends.wait_for(lambda q=query: backends.prometheus_query(stack.prometheus_url, q), TIMEOUT)]
    assert missing == [], f"missing in Prometheus: {missing}"
    brute = backends.wait_for(lambda: backends.loki_query(stack.loki_url, f'{{service_name="{service}"}} |= "brute force"'), TIMEOUT)
    assert brute and brute[0]["labels"].get("client_address") == "203.0.113.9"
    attack = backends.wait_for(lambda: backends.loki_query(stack.loki_url, f'{{service_name="{service}"}} |= "sql injection"'), TIMEOUT)
    assert attack
    # the shipped Grafana dashboard: every query runs against the real backends (a bad one is an HTTP 400
    # here), and the service panels have data; the Collector panels need two 15 s scrapes, so are not required
    from tests.test_collector_config import dashboard_queries

    def run(uid: str, query: str) -> list[dict[str, Any]]:
        return backends.prometheus_query(stack.prometheus_url, query) if uid == "prometheus" else backends.loki_query(stack.loki_url, query, since_seconds=600)

    queries = dashboard_queries(service)
    for _, uid, query in queries:
        run(uid, query)  # raises on a query the backend rejects
    expected_panels = {
        "Service health", "Health by route, dependency and component", "Requests per second by route", "p95 latency by route",
        "Security events per second by type", "Authentication attempts by result", "Security events",
        "Tokens per second by model and type", "Spend over the range by model (USD)", "CPU utilisation", "Memory",
    }
    assert expected_panels <= {title for title, _, _ in queries}
    # rate() needs a second sample, which may still be on its way through the Collector
    empty = [title for title, uid, query in queries if title in expected_panels and not backends.wait_for(lambda u=uid, q=query: run(u, q), TIMEOUT)]
    assert empty == []
    spend_panel = next(query for title, _, query in queries if title == "Spend over the range by model (USD)")
    by_model = {r["metric"]["gen_ai_request_model"]: float(r["value"][1]) for r in run("prometheus", spend_panel)}
    assert by_model["e2e-model"] == pytest.approx(2 * (600 * 1000 + 400 * 100 + 250 * 4000) / 1e6)

    # `otel-kit ai-costs` reads the same numbers from the real Prometheus
    from otel_kit.cli import ai_costs

    costs = ai_costs.report(stack.prometheus_url, service, "1h")
    rows = {row["model"]: row for row in costs["models"]}
    assert set(rows) == {"gpt-4o-mini", "e2e-model"}
    model = rows["e2e-model"]
    assert (model["calls"], model["input_tokens"], model["cache_read_tokens"], model["output_tokens"], model["reasoning_tokens"]) == (2, 2000, 800, 500, 100)
    assert model["spend_usd"] == pytest.approx(3.28) and model["month_to_date_usd"] == pytest.approx(3.28)
    assert (rows["gpt-4o-mini"]["input_tokens"], rows["gpt-4o-mini"]["output_tokens"]) == (120, 30)
    # gpt-4o-mini's cost is there only if genai-prices finished loading before the last export
    assert costs["month"]["projected_usd"] >= costs["total"]["month_to_date_usd"] >= 3.28 - 1e-9


def test_slow_query_event_in_jaeger_and_cli_report(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The slow query's event is in Jaeger; `otel-kit slow-queries`, `traces` and `trace` show it from Jaeger."""
    from otel_kit.cli import main

    service = f"e2e-slow-{uuid.uuid4().hex[:8]}"
    telemetry = _setup(stack, service, system_metrics=False, slow_query_ms=100)
    client = TestClient(_app(_engine()))
    trace_id = _trace_id_of(client, "GET", "/report")
    telemetry.force_flush(10)
    telemetry.shutdown(10)

    def slow_span() -> dict[str, Any] | None:
        trace = backends.jaeger_trace(stack.jaeger_url, trace_id)
        spans = trace["spans"] if trace else []
        return next((s for s in spans if any(log_entry["fields"] and any(f["value"] == "db.query.slow" for f in log_entry["fields"]) for log_entry in s.get("logs", []))), None)

    span = backends.wait_for(slow_span, TIMEOUT)
    assert span is not None, "no span with a db.query.slow event in Jaeger"
    capsys.readouterr()
    assert main.main(["slow-queries", "--jaeger", stack.jaeger_url, "--service", service, "--lookback", "1h", "--slow-ms", "100"]) == 0
    out = capsys.readouterr().out
    assert "select sleep_ms(?), count(*) from orders" in out and trace_id in out
    # the terminal stand-in for Jaeger's UI shows the same trace, the slow span and its event
    assert main.main(["trace", trace_id, "--jaeger", stack.jaeger_url]) == 0
    waterfall = capsys.readouterr().out
    assert waterfall.startswith(f"trace {trace_id}  {service}  ") and "GET /report" in waterfall
    assert "[db.query.slow]" in waterfall and "sleep_ms" in waterfall
    assert main.main(["traces", "--jaeger", stack.jaeger_url, "--service", service, "--lookback", "1h"]) == 0
    listing = capsys.readouterr().out
    assert trace_id in listing and "[db.query.slow]" in listing


def test_health_verdict_from_jaeger(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-kit health` judges the service from its traces in Jaeger as the live monitor does: exit 2, same reason."""
    from otel_kit.cli import main

    service = f"e2e-health-{uuid.uuid4().hex[:8]}"
    telemetry = _setup(stack, service, system_metrics=False)
    client = TestClient(_app(_engine()), raise_server_exceptions=False)
    for order in range(5):
        client.post(f"/orders/{order}")
    for _ in range(25):
        client.get("/fail")
    assert telemetry.health is not None
    live_status, live_targets, _, live_reasons = telemetry.health.evaluate()
    telemetry.force_flush(10)
    telemetry.shutdown(10)
    assert backends.wait_for(lambda: len(backends.jaeger_traces(stack.jaeger_url, service, "5m", 100)) >= 30, TIMEOUT)
    capsys.readouterr()
    assert main.main(["health", "--jaeger", stack.jaeger_url, "--service", service, "--window", "5m", "--json"]) == live_status.level == 2
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "unhealthy" and report["reasons"] == live_reasons == ["GET /fail: 100% errors over 5m, threshold 5%"]
    offline = {(t["kind"], t["name"]): (t["requests"], t["errors"], t["status"]) for t in report["targets"]}
    assert offline == {(t.kind, t.name): (t.requests, t.errors, t.status.value) for t in live_targets}
    # 25 of the 31 traces failed: asking for 5 with errors gets 5 failed ones, filtered by Jaeger
    assert main.main(["traces", "--jaeger", stack.jaeger_url, "--service", service, "--errors", "--limit", "5", "--json"]) == 0
    failed = json.loads(capsys.readouterr().out)
    assert len(failed) == 5 and all(row["root"] == "GET /fail" and row["errors"] == 1 for row in failed)


def test_spans_survive_jaeger_restart(stack: Any) -> None:
    """Spans sent while Jaeger is down wait in the Collector's persistent queue and all arrive after it restarts."""
    service = f"e2e-survive-{uuid.uuid4().hex[:8]}"
    stack.stop_one("jaeger")
    try:
        telemetry = _setup(stack, service, system_metrics=False, metrics=False, logs=False)
        trace_ids = []
        for index in range(20):
            with telemetry.tracer.start_as_current_span(f"while-down-{index}") as span:
                trace_ids.append(format(span.get_span_context().trace_id, "032x"))
        assert telemetry.force_flush(10)
        telemetry.shutdown(10)
        time.sleep(3)  # the Collector tries, fails and queues
    finally:
        stack.start_one("jaeger")

    def all_arrived() -> bool:
        found = backends.jaeger_traces(stack.jaeger_url, service, "1h", 100)
        return len({t["traceID"] for t in found}) == 20

    assert backends.wait_for(all_arrived, TIMEOUT, interval=2.0), "not every span arrived after Jaeger came back"


def test_doctor_against_the_stack(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-kit doctor` proves a span, a metric and a log arrive, and exits 0."""
    from otel_kit.cli import main

    code = main.main(["doctor", "--endpoint", stack.otlp_grpc, "--jaeger", stack.jaeger_url, "--prometheus", stack.prometheus_url, "--loki", stack.loki_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("arrived") == 3
