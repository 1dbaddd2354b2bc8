"""Flask: one server span per request with the URL rule, security inspection, health blueprint, real gunicorn over OTLP."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import flask
import pytest
from _servers import Postgres, gunicorn, otlp_env
from opentelemetry.trace import SpanKind, StatusCode

from otel_kit.analysis.flask_routes import health_blueprint, slow_query_blueprint
from otel_kit.receiver import Receiver
from otel_kit.testing import Capture, capture

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def make_app() -> flask.Flask:
    app = flask.Flask("shop")
    app.register_blueprint(health_blueprint())
    app.register_blueprint(slow_query_blueprint())

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @app.post("/echo")
    def echo() -> bytes:
        return flask.request.get_data()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("view failed")

    return app


def _servers(cap: Capture) -> list:
    return [s for s in cap.spans if s.kind is SpanKind.SERVER]


def test_one_server_span_with_the_url_rule() -> None:
    """An app created before setup(): one SERVER span named by the URL rule, parent from traceparent, stable attributes."""
    app = make_app()
    with capture() as cap:
        response = app.test_client().get("/users/7?x=1", headers={"traceparent": PARENT})
        assert response.json == {"id": 7}
        (span,) = _servers(cap)
        assert span.name == "GET /users/<int:user_id>"
        assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
        attributes = dict(span.attributes or {})
        assert attributes["http.route"] == "/users/<int:user_id>" and attributes["http.response.status_code"] == 200
        assert attributes["url.path"] == "/users/7" and attributes["url.query"] == "x=1" and attributes["http.request.method"] == "GET"
        (point,) = cap.metric_points("http.server.request.duration")
        assert point.count == 1 and point.attributes["http.route"] == "/users/<int:user_id>"


def test_app_created_after_setup_and_unmatched_url() -> None:
    """An app made after setup() is covered; an unmatched URL keeps the method as span name (no high-cardinality names)."""
    with capture() as cap:
        client = make_app().test_client()
        assert client.get("/nope/123").status_code == 404
        (span,) = _servers(cap)
        assert span.name == "GET" and "http.route" not in (span.attributes or {})


def test_excluded_urls_and_exception() -> None:
    """/health is excluded by default; a failing view is a 500 span with its exception recorded."""
    app = make_app()
    with capture() as cap:
        client = app.test_client()
        assert client.get("/health").status_code == 200
        assert client.get("/boom").status_code == 500
        (span,) = _servers(cap)
        assert span.name == "GET /boom" and span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"] and span.attributes["error.type"] == "RuntimeError"


def test_attack_request_is_a_finding_and_body_reaches_the_view() -> None:
    """Attack query and JSON body: findings on the request span; the inspected body still reaches the view unchanged."""
    app = make_app()
    body = json.dumps({"name": "<script>alert(document.cookie)</script>"}).encode()
    with capture(security=True) as cap:
        client = app.test_client()
        assert client.get("/users/1", query_string={"q": "1' OR '1'='1"}).status_code == 200
        echoed = client.post("/echo", data=body, content_type="application/json")
        assert echoed.data == body
        first, second = _servers(cap)
        assert [e.name for e in first.events] == ["security.attack.sql_injection"]
        assert [e.name for e in second.events] == ["security.attack.xss"]
        assert cap.metric_value("security.events", security__event__type="attack.xss") == 1


def test_enforcement_refuses_before_the_view() -> None:
    """security_enforce=True: an attack gets 403 JSON and the view never runs."""
    app = make_app()
    ran: list[str] = []

    @app.get("/search")
    def search() -> str:
        ran.append("view")
        return "ok"

    with capture(security=True, security_enforce=True) as cap:
        client = app.test_client()
        refused = client.get("/search", query_string={"q": "../../../etc/passwd"})
        assert refused.status_code == 403 and refused.json == {"detail": "Forbidden"}
        assert client.get("/search", query_string={"q": "shoes"}).status_code == 200
        assert ran == ["view"]
        assert cap.metric_value("security.blocked_requests") == 1


def test_health_blueprint_ready_turns_503_and_detailed_is_protected(monkeypatch: pytest.MonkeyPatch) -> None:
    """/health/ready: 200, then 503 once a route fails; /health/detailed answers loopback, needs the token when one is set."""
    app = make_app()
    with capture():
        client = app.test_client()
        assert client.get("/health/ready").status_code == 200
        for _ in range(25):
            client.get("/boom").close()
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and any("GET /boom" in reason for reason in ready.json["reasons"])
        detailed = client.get("/health/detailed")
        assert detailed.status_code == 503 and detailed.json["routes"][0]["name"] == "GET /boom"
        assert client.get("/health/detailed", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
        monkeypatch.setenv("OTEL_KIT_HEALTH_TOKEN", "s3cret")
        assert client.get("/health/detailed").status_code == 401
        assert client.get("/health/detailed", headers={"Authorization": "Bearer s3cret"}).status_code == 503
        assert client.get("/debug/slow-queries").json["fingerprints"] == []
        assert client.get("/debug/slow-queries?top=x").status_code == 400


SERVICE = textwrap.dedent(
    """
    import flask, psycopg, otel_kit

    otel_kit.setup("flask-svc", security=True, metric_interval=3600)
    app = flask.Flask(__name__)

    @app.get("/orders/<int:customer>")
    def orders(customer):
        with psycopg.connect(DSN) as connection:
            rows = connection.execute("SELECT id FROM orders WHERE customer = %s", (customer,)).fetchall()
        return {"orders": [r[0] for r in rows]}
    """
)


def test_gunicorn_spans_over_the_wire(tmp_path: Path, postgres: Postgres) -> None:
    """Real gunicorn: the SERVER span (route, parent from traceparent) is the parent of the psycopg span, exported over OTLP."""
    import psycopg

    with psycopg.connect(postgres.dsn) as connection:
        connection.execute("CREATE TABLE orders (id serial PRIMARY KEY, customer int)")
        connection.execute("INSERT INTO orders (customer) VALUES (1), (1), (2)")
    (tmp_path / "flask_svc.py").write_text(f"DSN = {postgres.dsn!r}\n" + SERVICE)
    with Receiver("grpc") as receiver:
        with gunicorn("flask_svc:app", tmp_path, otlp_env(receiver.endpoint)) as base:
            request = urllib.request.Request(f"{base}/orders/1", headers={"traceparent": PARENT})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read()) == {"orders": [1, 2]}
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{base}/orders/x", timeout=10)
        assert receiver.wait_for(lambda: len(receiver.spans()) >= 3, timeout=20)
    spans = receiver.spans()
    server = next(s for s in spans if s.name == "GET /orders/<int:customer>")
    query = next(s for s in spans if s.name == "SELECT orders")
    assert server.kind == 2 and server.parent_span_id == "b7ad6b7169203331" and server.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert query.kind == 3 and query.parent_span_id == server.span_id and query.trace_id == server.trace_id
    assert query.attributes["db.system.name"] == "postgresql" and query.attributes["db.namespace"] == postgres.database
    assert query.attributes["db.query.text"] == "SELECT id FROM orders WHERE customer = %s"
    assert server.attributes["http.route"] == "/orders/<int:customer>" and server.service == "flask-svc"
    assert any(s.name == "GET" and s.attributes["http.response.status_code"] == 404 for s in spans)
