"""Security middleware: request inspection on the request span, body inspection, enforcement, no secret leaks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from otel_kit.signals import security
from otel_kit.signals.security import middleware
from otel_kit.signals.security.middleware import BODY_PREFIX, THREAD_THRESHOLD, SecurityMiddleware
from otel_kit.testing import Capture, capture


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/search")
    def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    @app.post("/login")
    async def login(body: dict[str, str]) -> dict[str, bool]:
        ok = body.get("password") == "right"
        security.auth_attempt(body.get("user"), "testclient", ok, reason=None if ok else "bad password")
        return {"ok": ok}

    @app.post("/form-login")
    async def form_login(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    return app


def test_query_attack_recorded_on_request_span() -> None:
    """An attack in the query becomes a span event, a log record with event.name and a metric without IP."""
    with capture() as cap:
        client = TestClient(_app())
        assert client.get("/search", params={"q": "' UNION SELECT password FROM users--"}).status_code == 200
        server = next(s for s in cap.spans if (s.attributes or {}).get("http.route") == "/search")
        events = [dict(e.attributes or {}) for e in server.events if e.name == "security.attack.sql_injection"]
        assert events and events[0]["security.severity"] == "critical"
        assert events[0]["security.attack.location"] == "query.q"
        records = cap.log_records("security.attack.sql_injection")
        assert records and records[0].attributes["client.address"] == "testclient" and records[0].trace_id == server.context.trace_id
        points = cap.metric_points("security.events")
        assert any(p.attributes == {"security.event.type": "attack.sql_injection", "security.severity": "critical"} for p in points)
        assert all("client.address" not in p.attributes and "user.name" not in p.attributes for p in points)


def test_ordinary_requests_raise_nothing() -> None:
    """Ordinary searches, JSON bodies and forms produce no finding."""
    with capture() as cap:
        client = TestClient(_app())
        client.get("/search", params={"q": "Conan O'Brien -- #1 fan"}, headers={"user-agent": "Opera/9.80 (MTK; Opera Mini/2.1; U; id) Presto"})
        client.post("/login", json={"user": "ann", "password": "x\"#1 -- priority"})
        client.post("/form-login", data={"user": "ann", "comment": "rock 'n' roll; or jazz"})
        assert [r.event_name for r in cap.log_records() if (r.event_name or "").startswith("security.attack")] == []


def test_json_body_fields_are_inspected() -> None:
    """A JSON body is inspected field by field: the finding names the JSON path."""
    with capture() as cap:
        TestClient(_app()).post("/login", json={"user": "<script>alert(1)</script>", "password": "x"})
        (record,) = cap.log_records("security.attack.xss")
        assert record.attributes["security.attack.location"] == "body.user"


def test_observe_by_default_enforce_opt_in() -> None:
    """Attacks are only observed by default; with security_enforce they get 403."""
    attack = {"q": "<script>alert(1)</script>"}
    with capture():
        assert TestClient(_app()).get("/search", params=attack).status_code == 200
    with capture(security_enforce=True) as cap:
        client = TestClient(_app())
        assert client.get("/search", params=attack).status_code == 403
        assert client.get("/search", params={"q": "O'Brien"}).status_code == 200
        assert cap.metric_value("security.blocked_requests") == 1


def test_enforcement_refuses_body_attacks_and_replays_other_bodies() -> None:
    """Enforcing, a JSON-body SQL injection gets 403; observing it gets 200 and a finding; others reach the app unchanged."""
    attack = {"user": "admin' OR 1=1--", "password": "x"}
    with capture() as cap:
        assert TestClient(_app()).post("/login", json=attack).status_code == 200
        assert cap.log_records("security.attack.sql_injection")
    with capture(security_enforce=True) as cap:
        client = TestClient(_app())
        assert client.post("/login", json=attack).status_code == 403
        body = json.dumps({"note": "ordinary text", "pad": "x" * 20_000}).encode()
        echoed = client.post("/echo", content=body, headers={"content-type": "application/json"})
        assert echoed.status_code == 200 and echoed.content == body


def test_enforcement_replays_chunked_bodies_message_for_message() -> None:
    """The application receives exactly the messages the server sent, in order, after the prefix was read."""
    sent: list[dict[str, Any]] = [{"type": "http.request", "body": b'{"a": "' + b"x" * 5000, "more_body": True}, {"type": "http.request", "body": b"y" * 5000, "more_body": True}, {"type": "http.request", "body": b'"}', "more_body": False}]
    received: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run(monitor: Any) -> list[int]:
        queue = list(sent)
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "method": "POST", "path": "/x", "query_string": b"", "headers": [(b"content-type", b"application/json"), (b"content-length", b"10004")], "client": ("10.0.0.2", 1)}
        await SecurityMiddleware(app, monitor)(scope, receive, send)
        return statuses

    with capture(security_enforce=True) as cap:
        assert asyncio.run(run(cap.telemetry.security)) == [200]
    assert received == sent
    assert sum(len(m["body"]) for m in sent[:2]) > BODY_PREFIX


def test_large_bodies_are_inspected_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies above the threshold go to a worker thread; small ones do not."""
    calls: list[int] = []
    original = anyio.to_thread.run_sync

    async def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    with capture() as cap:
        client = TestClient(_app())
        client.post("/echo", content=json.dumps({"a": "b"}).encode(), headers={"content-type": "application/json"})
        before = len(calls)
        client.post("/echo", content=json.dumps({"a": "<script>x()</script>", "pad": "z" * THREAD_THRESHOLD}).encode(), headers={"content-type": "application/json"})
        assert len(calls) == before + 1
        assert cap.log_records("security.attack.xss")
    assert middleware.THREAD_THRESHOLD < BODY_PREFIX


def test_blocked_ip_refused_only_when_enforcing() -> None:
    """A blocked client gets 403 when enforcing and is only counted when observing."""
    for enforce, status in ((False, 200), (True, 403)):
        with capture(security_enforce=enforce) as cap:
            assert cap.telemetry.security is not None
            cap.telemetry.security.block_ip("testclient", 60)
            assert TestClient(_app()).get("/search", params={"q": "x"}).status_code == status
            assert cap.metric_value("security.blocked_requests") == 1


def test_brute_force_then_refused() -> None:
    """After five failed logins the client is blocked and, when enforcing, refused."""
    with capture(security_enforce=True):
        client = TestClient(_app())
        for _ in range(5):
            client.post("/login", json={"user": "alice", "password": "wrong"})
        assert client.post("/login", json={"user": "alice", "password": "right"}).status_code == 403


def test_security_off_installs_nothing() -> None:
    """security=False leaves requests uninspected."""
    with capture(security=False) as cap:
        TestClient(_app()).get("/search", params={"q": "<script>"})
        assert cap.telemetry.security is None and not cap.log_records("security.attack.xss")


MARKER = "Zq7MARKERpw"
PASSWORDS = [f"{MARKER}' OR 1=1 --", f"{MARKER}\"; --", f"{MARKER}'#", f"'{MARKER}' or 'a'='a", f"{MARKER};--\"'"]


def _everything_exported(cap: Capture) -> str:
    parts: list[str] = []
    for span in cap.spans:
        parts.append(span.name)
        parts.extend(f"{k}={v!s}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            parts.append(event.name)
            parts.extend(f"{k}={v!s}" for k, v in (event.attributes or {}).items())
    for record in cap.log_records():
        parts.append(str(record.body))
        parts.extend(f"{k}={v}" for k, v in (record.attributes or {}).items())
    for point in cap.metric_points():
        parts.extend(f"{k}={v}" for k, v in point.attributes.items())
    return "\n".join(parts)


def test_marked_passwords_never_leave_the_process() -> None:
    """Login forms and JSON bodies whose password holds ; quotes # -- and ' OR 1=1: findings at body.password, no marker anywhere."""
    with capture() as cap:
        client = TestClient(_app())
        for password in PASSWORDS:
            client.post("/form-login", data={"user": "ann", "password": password})
            client.post("/login", json={"user": "ann", "password": password})
        findings = [r for r in cap.log_records() if (r.event_name or "").startswith("security.attack.")]
        assert {r.attributes["security.attack.location"] for r in findings} == {"body.password"}
        assert len(findings) >= len(PASSWORDS)
        for record in findings:
            assert "security.attack.shape" not in record.attributes and "security.attack.value_hmac" not in record.attributes
        exported = _everything_exported(cap)
        assert MARKER not in exported
        assert MARKER.lower() not in exported.lower()
