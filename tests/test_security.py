"""Security signals: detection quality on a labelled corpus, fuzzing, bounded patterns, middleware, brute force, audit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_kit.signals import security
from otel_kit.signals.security import _PATTERNS, _SUSPICIOUS, BlockList, SlidingCounter, inspect_text, sign, verify_audit
from otel_kit.testing import capture

DATA = Path(__file__).parent / "data"


def _rows(name: str) -> list[list[str]]:
    return [line.split("\t") for line in (DATA / name).read_text().splitlines() if line and not line.startswith("#")]


def test_detection_and_false_positive_rates() -> None:
    """On the labelled corpus: >= 90 % of attacks detected (right type), <= 0.5 % of benign inputs flagged."""
    attacks = _rows("attacks.tsv")
    benign = _rows("benign.tsv")
    assert len(attacks) >= 300 and len(benign) >= 300
    detected = typed = 0
    for kind, location, payload in attacks:
        findings = inspect_text(json.loads(payload), location)
        detected += bool(findings)
        typed += any(f.type == kind for f in findings)
    flagged = [json.loads(text) for location, text in benign if inspect_text(json.loads(text), location)]
    detection = detected / len(attacks)
    type_accuracy = typed / len(attacks)
    false_positives = len(flagged) / len(benign)
    print(f"\nsecurity corpus: {len(attacks)} attacks, {len(benign)} benign; detection {detection:.1%} (right type {type_accuracy:.1%}); false positives {false_positives:.2%} {flagged[:3]}")
    assert detection >= 0.90
    assert false_positives <= 0.005


@pytest.mark.parametrize(("text", "kind"), [
    ("1' OR '1'='1", "sql_injection"), ("<script>alert(1)</script>", "xss"), ("../../etc/passwd", "path_traversal"),
    ("; cat /etc/passwd", "command_injection"), ("%253Cscript%253E", "xss"),
])
def test_each_family_detected_with_severity(text: str, kind: str) -> None:
    """Each attack family is detected and carries a type and severity."""
    findings = inspect_text(text, "query")
    assert any(f.type == kind for f in findings)
    assert all(f.severity in security.SEVERITIES and f.location == "query" for f in findings)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=2000))
def test_detectors_never_raise_on_text(value: str) -> None:
    """No detector raises on arbitrary text."""
    assert isinstance(inspect_text(value, "fuzz"), list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_detectors_never_raise_on_decoded_bytes(value: bytes) -> None:
    """No detector raises on arbitrary bytes decoded as latin-1 or UTF-8 with replacement."""
    inspect_text(value.decode("latin-1"), "fuzz")
    inspect_text(value.decode("utf-8", errors="replace"), "fuzz")


def test_non_text_input_is_ignored() -> None:
    """Non-string input returns no findings instead of raising."""
    assert inspect_text(None, "x") == [] and inspect_text(b"bytes", "x") == []  # type: ignore[arg-type]


def _unbounded(pattern: re.Pattern[str]) -> list[str]:
    from re import _constants, _parser  # type: ignore[attr-defined]

    found: list[str] = []

    def walk(items: Any) -> None:
        for op, arg in items:
            if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
                _low, high, sub = arg
                if high == _constants.MAXREPEAT:
                    found.append(str(op))
                walk(sub)
            elif op in (_constants.SUBPATTERN,):
                walk(arg[-1])
            elif op == _constants.BRANCH:
                for branch in arg[1]:
                    walk(branch)
            elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
                walk(arg[1])

    walk(_parser.parse(pattern.pattern, pattern.flags))
    return found


def test_every_pattern_uses_bounded_repetition() -> None:
    """Every detection and scrubbing pattern uses only bounded repetition, so each scan is linear in the input."""
    from otel_kit.export import scrubbing

    patterns = [p for family in _PATTERNS.values() for _, _, p in family] + [_SUSPICIOUS]
    patterns += [scrubbing._BEARER, scrubbing._JWT, scrubbing._API_KEY, scrubbing._ASSIGNMENT, scrubbing._CARD, scrubbing._SENSITIVE_KEY]
    offenders = {p.pattern[:60]: _unbounded(p) for p in patterns if _unbounded(p)}
    assert offenders == {}


@pytest.mark.parametrize("unit", ["'", "<", "<a ", "' or ", "../", "; ", "$(", "`", "union ", "%25", "a" * 7, "on" * 3, "<svg on"])
def test_adversarial_100kb_inputs_complete(unit: str) -> None:
    """100 KB adversarial inputs are processed (timing is measured in benchmarks/bench_security.py)."""
    value = unit * (100_000 // len(unit))
    assert isinstance(inspect_text(value, "body"), list)


def test_sliding_counter_and_blocklist_expire() -> None:
    """The brute-force window and the block list both expire with time."""
    now = [0.0]
    counter = SlidingCounter(10, clock=lambda: now[0])
    assert [counter.add("ip") for _ in range(3)] == [1, 2, 3]
    now[0] = 11
    assert counter.add("ip") == 1
    blocks = BlockList(clock=lambda: now[0])
    blocks.block("1.2.3.4", 5, "test")
    assert blocks.is_blocked("1.2.3.4") and "1.2.3.4" in blocks.entries()
    now[0] = 17
    assert not blocks.is_blocked("1.2.3.4")


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

    return app


def test_middleware_records_attack_on_request_span() -> None:
    """An attack in the query becomes a span event, a log record with event.name and a metric without IP."""
    with capture() as cap:
        client = TestClient(_app())
        assert client.get("/search", params={"q": "' UNION SELECT password FROM users--"}).status_code == 200
        server = next(s for s in cap.spans if s.attributes.get("http.route") == "/search")
        events = [e for e in server.events if e.name == "security.attack.sql_injection"]
        assert events and events[0].attributes["security.severity"] == "critical"
        records = cap.log_records("security.attack.sql_injection")
        assert records and records[0].attributes["client.address"] == "testclient" and records[0].trace_id == server.context.trace_id
        points = cap.metric_points("security.events")
        assert any(p.attributes == {"security.event.type": "attack.sql_injection", "security.severity": "critical"} for p in points)
        assert all("client.address" not in p.attributes and "user.name" not in p.attributes for p in points)


def test_body_prefix_is_inspected() -> None:
    """Attacks in the request body are detected as the app reads it."""
    with capture() as cap:
        TestClient(_app()).post("/login", json={"user": "<script>alert(1)</script>", "password": "x"})
        assert cap.log_records("security.attack.xss")


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


def test_brute_force_detected_and_ip_blocked() -> None:
    """Five failed logins from one IP are a brute force: event, block-list entry, 403 when enforcing."""
    with capture(security_enforce=True) as cap:
        client = TestClient(_app())
        for _ in range(5):
            client.post("/login", json={"user": "alice", "password": "wrong"})
        (event,) = [r for r in cap.log_records("security.brute_force") if r.attributes.get("client.address") == "testclient"]
        assert event.attributes["security.failures"] == 5
        assert cap.log_records("security.ip.blocked")
        assert client.post("/login", json={"user": "alice", "password": "right"}).status_code == 403
        attempts = {p.attributes["security.auth.result"]: p.value for p in cap.metric_points("security.auth.attempts")}
        assert attempts == {"failure": 5}


def test_rate_abuse_detected_once_per_window() -> None:
    """A client over the request-rate threshold is reported once per window."""
    with capture() as cap:
        monitor = cap.telemetry.security
        assert monitor is not None
        crossed = [monitor.request("10.0.0.9") for _ in range(monitor.policy.requests_per_window + 5)]
        assert crossed.count(True) == 1
        assert len(cap.log_records("security.rate_limit.exceeded")) == 1


def test_authorization_failure_and_custom_event() -> None:
    """Authorization failures and custom events are recorded with their attributes."""
    with capture() as cap:
        security.authorization_failure("bob", "/admin", "delete", ip="10.1.1.1")
        security.event("api_key.rotated", "low", "rotated", **{"key.owner": "ci"})
        assert cap.log_records("security.authz.denied")[0].attributes["security.resource"] == "/admin"
        assert cap.log_records("security.api_key.rotated")[0].attributes["key.owner"] == "ci"


def test_audit_events_signed_and_verifiable() -> None:
    """Audit events are HMAC-SHA256 signed; verification fails after tampering or with another key."""
    with capture(audit_key="k1") as cap:
        event = security.audit("user.delete", actor="admin", target="user:42", reason="gdpr")
        assert event is not None and verify_audit(event, "k1")
        assert not verify_audit({**event, "target": "user:43"}, "k1")
        assert not verify_audit(event, "k2")
        (record,) = cap.log_records("security.audit")
        assert record.attributes["audit.signature"] == event["signature"] and record.attributes["audit.signed"] is True
    assert sign({"a": 1}, "k") == sign({"a": 1, "signature": "x"}, "k")


def test_security_off_installs_nothing() -> None:
    """security=False leaves requests uninspected."""
    with capture(security=False) as cap:
        TestClient(_app()).get("/search", params={"q": "<script>"})
        assert cap.telemetry.security is None and not cap.log_records("security.attack.xss")
