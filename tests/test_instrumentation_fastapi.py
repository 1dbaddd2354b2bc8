"""FastAPI integration: one server span per request on either path, apps before/after setup, exclusions."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, text

import otel_kit
from otel_kit.instrumentation.fastapi import has_native_telemetry
from otel_kit.testing import capture

pytestmark = pytest.mark.compat


def _app(engine: Any = None) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if engine is not None:
            with engine.connect() as connection:
                connection.execute(text("SELECT :x"), {"x": item_id}).all()
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise HTTPException(status_code=503, detail="down")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def _server_spans(cap: Any) -> list[Any]:
    return [s for s in cap.spans if s.kind is SpanKind.SERVER]


@pytest.mark.parametrize("mode", ["contrib", "native"])
def test_one_server_span_with_route_and_db_child(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each request gives exactly one server span with http.route and a child DB span, in both modes."""
    engine = create_engine("sqlite://")
    app = _app(engine)  # created before setup()
    with capture(fastapi_telemetry=mode) as cap:
        client = TestClient(app)
        assert client.get("/items/7").status_code == 200
        servers = _server_spans(cap)
        assert len(servers) == 1, [s.name for s in cap.spans]
        server = servers[0]
        assert server.attributes["http.route"] == "/items/{item_id}"
        db = [s for s in cap.spans if s.attributes and s.attributes.get("db.system.name") == "sqlite"]
        assert (len(db) == 1 and db[0].parent.span_id == server.context.span_id) or _ancestor(cap.spans, db[0], server)
        names = {s.name for s in cap.spans}
        assert not {"http send", "http receive"} & {n.split(" ", 2)[-1] for n in names}, names
        if mode == "native" and has_native_telemetry():
            assert not any(n.startswith("fastapi.") for n in names), "operation spans are off by default"
        if mode == "native" and not has_native_telemetry():
            assert "needs FastAPI >= 0.142" in caplog.text


def _ancestor(spans: list[Any], child: Any, ancestor: Any) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    current = child
    while current.parent is not None:
        if current.parent.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id)
        if current is None:
            return False
    return False


def test_app_created_after_setup() -> None:
    """Apps created after setup() are instrumented too."""
    with capture() as cap:
        client = TestClient(_app())
        client.get("/items/1")
        assert len(_server_spans(cap)) == 1


def test_native_operation_spans_opt_in() -> None:
    """fastapi_operation_spans=True turns FastAPI's own per-request spans back on (native mode)."""
    if not has_native_telemetry():
        pytest.skip("this FastAPI has no native telemetry")
    with capture(fastapi_telemetry="native", fastapi_operation_spans=True) as cap:
        TestClient(_app()).get("/items/1")
        assert any(s.name.startswith("fastapi.") for s in cap.spans)
        assert len(_server_spans(cap)) == 1


@pytest.mark.parametrize("mode", ["contrib", "native"])
def test_health_endpoints_excluded(mode: str) -> None:
    """Requests to /health are not traced by default."""
    with capture(fastapi_telemetry=mode) as cap:
        TestClient(_app()).get("/health")
        assert _server_spans(cap) == []


@pytest.mark.parametrize("mode", ["contrib", "native"])
def test_server_error_marks_span(mode: str) -> None:
    """A 5xx response is recorded with its status code and an error status."""
    with capture(fastapi_telemetry=mode) as cap:
        assert TestClient(_app()).get("/boom").status_code == 503
        server = _server_spans(cap)[0]
        assert server.attributes["http.response.status_code"] == 503
        assert server.status.status_code.name == "ERROR"


def test_explicit_instrument_fastapi() -> None:
    """instrument_fastapi(app) works on an app that already served requests before setup()."""
    app = _app()
    client = TestClient(app)
    client.get("/items/1")  # middleware stack built without telemetry
    with capture() as cap:
        otel_kit.instrument_fastapi(app)
        client.get("/items/2")
        assert len(_server_spans(cap)) == 1


def test_log_correlation_inside_request() -> None:
    """A log line written while handling a request carries that request's trace id."""
    app = FastAPI()

    @app.get("/log")
    def log() -> dict[str, str]:
        logging.getLogger("shop.orders").warning("order placed")
        return {}

    with capture() as cap:
        TestClient(app).get("/log")
        server = _server_spans(cap)[0]
        records = [r for r in cap.log_records() if r.body == "order placed"]
        assert len(records) == 1
        assert records[0].trace_id == server.context.trace_id


def test_missing_fastapi_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without FastAPI, the integration error names the extra to install."""
    import sys

    from otel_kit.instrumentation import _support

    monkeypatch.setitem(sys.modules, "fastapi", None)  # makes `import fastapi` raise ImportError
    with pytest.raises(_support.MissingDependency, match=r"pip install 'otel-kit\[fastapi\]'"):
        _support.require("fastapi", "fastapi")
