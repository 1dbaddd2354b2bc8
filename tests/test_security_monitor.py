"""Security monitor: events, findings contract, brute force, rate abuse, blocking, audit."""

from __future__ import annotations

import pytest

from otel_kit import ConfigError
from otel_kit.signals import security
from otel_kit.signals.security import BlockList, Finding, SecurityPolicy, SlidingCounter, sign, verify_audit
from otel_kit.testing import capture


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


def test_sliding_counter_keys_are_bounded() -> None:
    """The oldest key is evicted when the counter holds max_keys keys."""
    counter = SlidingCounter(60, max_keys=2)
    for key in ("a", "b", "c"):
        counter.add(key)
    assert counter.add("a") == 1


def test_report_follows_the_contract() -> None:
    """A finding is a log record named security.attack.<type>, a span event and a metric by type and severity."""
    with capture() as cap:
        monitor = cap.telemetry.security
        assert monitor is not None
        assert cap.telemetry.tracer_provider is not None
        tracer = cap.telemetry.tracer_provider.get_tracer("t")
        with tracer.start_as_current_span("request"):
            monitor.report([Finding("xss", "high", "script_tag", "query.q", "<script>", "0123456789abcdef")], "198.51.100.7")
        (record,) = cap.log_records("security.attack.xss")
        assert record.attributes["security.attack.type"] == "xss"
        assert record.attributes["security.attack.location"] == "query.q"
        assert record.attributes["security.attack.pattern"] == "script_tag"
        assert record.attributes["client.address"] == "198.51.100.7"
        (span,) = cap.spans_named("request")
        assert [e.name for e in span.events] == ["security.attack.xss"]
        points = cap.metric_points("security.events")
        assert [p.attributes for p in points if p.value] == [{"security.event.type": "attack.xss", "security.severity": "high"}]


def test_alerted_series_start_at_zero() -> None:
    """The series the alert rules read with increase() exist at 0 before any event, so the first one is an increase."""
    with capture() as cap:
        events = {(p.attributes["security.event.type"], p.attributes["security.severity"]): p.value for p in cap.metric_points("security.events")}
        wanted = {(f"attack.{a}", s) for a in ("sql_injection", "xss", "path_traversal", "command_injection") for s in ("high", "critical")}
        assert events == {key: 0 for key in wanted | {("brute_force", "high"), ("rate_limit.exceeded", "medium")}}
        assert [(p.attributes, p.value) for p in cap.metric_points("security.auth.attempts")] == [
            ({"security.auth.result": "failure", "security.auth.method": "password"}, 0)
        ]
        assert cap.telemetry.security is not None
        cap.telemetry.security.inspect([("query.q", "' UNION SELECT password FROM users--")])
        assert cap.metric_value("security.events", security__event__type="attack.sql_injection") == 1


def test_detect_and_inspect_accept_pairs_and_hash_with_the_monitor_key() -> None:
    """inspect() takes (location, text) pairs; the hash key is per process unless an audit key is set."""
    with capture(audit_key="k1") as first, capture(audit_key="k1") as second:
        assert first.telemetry.security is not None and second.telemetry.security is not None
        a = first.telemetry.security.detect([("query.q", "<script>x()</script>")])
        b = second.telemetry.security.detect([("query.q", "<script>x()</script>")])
        assert a[0].digest == b[0].digest
    with capture() as cap:
        monitor = cap.telemetry.security
        assert monitor is not None
        (found,) = monitor.inspect([("body.password", "' or 1=1 --")], "10.0.0.1")
        assert found.location == "body.password" and found.digest == "" and found.shape == ""
        assert cap.log_records("security.attack.sql_injection")


def test_enforcement_threshold() -> None:
    """Only findings at or above the policy's severity are refused, and only when enforcing."""
    low = Finding("sql_injection", "medium", "comment_terminator", "query.q")
    high = Finding("sql_injection", "high", "tautology", "query.q")
    with capture(security_enforce=True) as cap:
        monitor = cap.telemetry.security
        assert monitor is not None
        assert not monitor.should_refuse([low]) and monitor.should_refuse([low, high])
    with capture() as cap:
        assert cap.telemetry.security is not None and not cap.telemetry.security.should_refuse([high])


def test_policy_validation() -> None:
    """An invalid policy value is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match="enforce_severity"):
        SecurityPolicy(enforce_severity="extreme")
    with pytest.raises(ConfigError, match="failed_logins"):
        SecurityPolicy(failed_logins=0)


def test_brute_force_detected_and_ip_blocked() -> None:
    """Five failed logins from one IP are a brute force: event, block-list entry."""
    with capture() as cap:
        for _ in range(5):
            security.auth_attempt("alice", "203.0.113.5", False, reason="bad password")
        (event,) = [r for r in cap.log_records("security.brute_force") if r.attributes.get("client.address") == "203.0.113.5"]
        assert event.attributes["security.failures"] == 5
        assert cap.log_records("security.ip.blocked")
        assert cap.telemetry.security is not None and cap.telemetry.security.blocklist.is_blocked("203.0.113.5")
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


def test_module_api_without_setup_is_inert() -> None:
    """Without setup() the module-level functions do nothing and return neutral values."""
    with capture(security=False):
        assert security.auth_attempt("a", "1.1.1.1", False) is False
        assert security.audit("x", actor="y") is None
        security.event("custom")
        security.authorization_failure("a", "r", "w")
