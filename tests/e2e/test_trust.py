"""End to end trust: marked secrets never reach Jaeger, Loki or Prometheus; a Collector outage loses nothing."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

import otel_kit
from otel_kit.cli import backends

pytestmark = pytest.mark.e2e
TIMEOUT = 90.0


def _secret_app(marker: str) -> FastAPI:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (email TEXT UNIQUE, password TEXT)"))
        connection.execute(text("INSERT INTO users VALUES (:e, :p)"), {"e": f"{marker}-dup@example.com", "p": "x"})
    app = FastAPI()
    log = logging.getLogger("e2e.trust")

    @app.post("/login")
    async def login(request: Request) -> dict[str, str]:
        await request.body()  # a urlencoded login form, as a browser sends it
        return {"ok": "yes"}

    @app.post("/api/login")
    async def api_login(request: Request) -> dict[str, str]:
        await request.json()
        return {"ok": "yes"}

    @app.get("/callback")
    def callback(code: str, access_token: str = "") -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/signup")
    def signup() -> dict[str, str]:
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO users VALUES (:e, :p)"), {"e": f"{marker}-dup@example.com", "p": f"{marker}-pw5"})
        except IntegrityError:
            log.exception("signup failed")
        return {"ok": "no"}

    @app.get("/connect")
    def connect() -> dict[str, str]:
        try:
            raise ConnectionError(f"could not reach postgresql://app:{marker}-pw6@db.internal:5432/app")
        except ConnectionError:
            log.exception("database unreachable")
        raise RuntimeError(f"failed with redis://:{marker}-pw7@cache:6379/0")

    return app


def test_marked_secrets_reach_no_backend(stack: Any) -> None:
    """Passwords in forms and JSON (with ; ' # --), secret query names, driver errors and URL credentials stay out of every backend."""
    service = f"e2e-trust-{uuid.uuid4().hex[:8]}"
    marker = f"MARK{uuid.uuid4().hex[:10]}"
    telemetry = otel_kit.setup(service, endpoint=stack.otlp_grpc, metric_interval=1.0, log_format="none", system_metrics=False)
    client = TestClient(_secret_app(marker), raise_server_exceptions=False)
    client.post("/login", data={"username": "alice", "password": f"{marker}-pw1; DROP TABLE users --"})
    client.post("/login", data={"username": "bob", "password": f"{marker}-pw2' OR '1'='1 #"})
    client.post("/api/login", content=json.dumps({"user": "carol", "password": f"{marker}-pw3\" -- <script>x</script>"}), headers={"content-type": "application/json"})
    client.get(f"/callback?code={marker}-pw4&access_token={marker}-tok&state=ok")
    client.post("/signup")
    client.get("/connect")
    assert telemetry.force_flush(10)
    telemetry.shutdown(10)

    traces = backends.wait_for(lambda: backends.jaeger_traces(stack.jaeger_url, service, "1h", 100) or None, TIMEOUT)
    assert traces, "no trace reached Jaeger"
    assert backends.wait_for(lambda: len(backends.jaeger_traces(stack.jaeger_url, service, "1h", 100)) >= 6 or None, TIMEOUT)
    jaeger_text = json.dumps(backends.jaeger_traces(stack.jaeger_url, service, "1h", 100))
    assert "[REDACTED]" in jaeger_text or "REDACTED" in jaeger_text
    logs = backends.wait_for(lambda: backends.loki_query(stack.loki_url, f'{{service_name="{service}"}}') or None, TIMEOUT)
    assert logs, "no log reached Loki"
    time.sleep(2)
    loki_text = json.dumps(backends.loki_query(stack.loki_url, f'{{service_name="{service}"}}'))
    series = backends.get_json(f"{stack.prometheus_url}/api/v1/series", {"match[]": f'{{job="{service}"}}'})
    prometheus_text = json.dumps(series)
    for name, exported in (("Jaeger", jaeger_text), ("Loki", loki_text), ("Prometheus", prometheus_text)):
        assert marker not in exported, f"a marked secret reached {name}: ...{exported[max(exported.find(marker) - 200, 0):exported.find(marker) + 60]}..."
    assert "security.attack" in loki_text or "security" in jaeger_text


def test_collector_outage_loses_nothing(stack: Any) -> None:
    """Spans recorded while the Collector is down are kept by the SDK and all reach Jaeger after it is back."""
    service = f"e2e-outage-{uuid.uuid4().hex[:8]}"
    telemetry = otel_kit.setup(service, endpoint=stack.otlp_grpc, log_format="none", system_metrics=False, metrics=False)
    stack.stop_one("collector")
    try:
        for index in range(50):
            with telemetry.tracer.start_as_current_span(f"during-outage-{index}"):
                pass
        assert not telemetry.force_flush(2)  # nobody to take them: kept, not dropped
        assert telemetry.pending()["spans"] == 50 and telemetry.dropped()["spans"] == 0
    finally:
        stack.start_one("collector")
    assert telemetry.force_flush(30)
    telemetry.shutdown(10)
    assert telemetry.dropped()["spans"] == 0

    def all_arrived() -> bool:
        found = backends.jaeger_traces(stack.jaeger_url, service, "1h", 100)
        return len({t["traceID"] for t in found}) == 50

    assert backends.wait_for(all_arrived, TIMEOUT, interval=2.0), "not every span recorded during the outage arrived"
