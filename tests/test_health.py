"""Span-based health: windows, policy, component checks, /health endpoints, exported status."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

import otel_kit
from otel_kit.analysis.health import HealthMonitor, HealthPolicy, SlidingWindow, Status, database_check, register_default_checks
from otel_kit.testing import capture


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _monitor(**policy: Any) -> tuple[HealthMonitor, Clock]:
    clock = Clock()
    return HealthMonitor(HealthPolicy(**policy), clock=clock), clock


def test_window_expires_old_slots() -> None:
    """A sliding window forgets requests older than the window."""
    window = SlidingWindow()
    window.add(100.0, 0.1, True)
    window.add(150.0, 0.2, False)
    assert window.read(155.0, 60)[:2] == (2, 1)
    assert window.read(205.0, 60)[:2] == (1, 0)
    assert window.read(500.0, 300)[:2] == (0, 0)


def test_minimum_sample_size_protects_quiet_routes() -> None:
    """One failed request on a quiet route is not an outage."""
    monitor, _ = _monitor(min_requests=20)
    monitor.record("route", "GET /rare", 0.01, True)
    (target,) = monitor.targets()
    assert target.status is Status.HEALTHY and "below the minimum" in target.reason


def test_error_rate_reason_in_words() -> None:
    """12 % errors on a busy route is unhealthy, and the reason says so in words."""
    monitor, _ = _monitor()
    for i in range(100):
        monitor.record("route", "POST /checkout", 0.05, i < 12)
    (target,) = monitor.targets()
    assert target.status is Status.UNHEALTHY
    assert target.reason == "POST /checkout: 12% errors over 5m, threshold 5%"


@pytest.mark.parametrize(("errors", "latency", "expected"), [(0, 0.05, Status.HEALTHY), (2, 0.05, Status.DEGRADED), (0, 1.2, Status.DEGRADED), (0, 2.5, Status.UNHEALTHY), (6, 0.05, Status.UNHEALTHY)])
def test_policy_thresholds(errors: int, latency: float, expected: Status) -> None:
    """Error-rate and p95 thresholds map to healthy/degraded/unhealthy."""
    monitor, _ = _monitor()
    for i in range(100):
        monitor.record("route", "GET /a", latency, i < errors)
    assert monitor.targets()[0].status is expected


def test_transition_back_to_healthy_after_window() -> None:
    """An unhealthy route becomes healthy once its errors leave the window."""
    monitor, clock = _monitor(min_requests=5)
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, True)
    assert monitor.span_status()[0] is Status.UNHEALTHY
    clock.now += 301
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, False)
    assert monitor.span_status()[0] is Status.HEALTHY


def test_transitions_recorded_once_per_change() -> None:
    """Each status change is recorded once, with the previous status and the reason; no change, no record."""
    monitor, clock = _monitor(min_requests=5)
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, True)
    monitor.evaluate()
    monitor.evaluate()
    clock.now += 301
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, False)
    monitor.evaluate()
    changes = [(c.kind, c.name, c.previous, c.status) for c in monitor.transitions]
    assert changes == [
        ("route", "GET /x", Status.HEALTHY, Status.UNHEALTHY), ("overall", "service", Status.HEALTHY, Status.UNHEALTHY),
        ("route", "GET /x", Status.UNHEALTHY, Status.HEALTHY), ("overall", "service", Status.UNHEALTHY, Status.HEALTHY),
    ]
    assert monitor.transitions[0].reason == "GET /x: 100% errors over 5m, threshold 5%" and monitor.transitions[0].at == 1_000_000.0


def test_report_shows_both_windows() -> None:
    """The detailed report gives each target's 1-minute and 5-minute figures beside the policy window's."""
    monitor, clock = _monitor(min_requests=5)
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, True)
    clock.now += 120
    for _ in range(10):
        monitor.record("route", "GET /x", 0.01, False)
    (route,) = asyncio.run(monitor.report(run_checks=False))["routes"]
    assert (route["requests"], route["window"]) == (20, "5m")
    assert route["windows"]["1m"] == {"status": "healthy", "requests": 10, "errors": 0, "error_rate": 0.0, "p95_ms": pytest.approx(10, rel=0.01)}
    assert route["windows"]["5m"]["errors"] == 10 and route["windows"]["5m"]["status"] == "unhealthy"


def test_percentiles_reported() -> None:
    """Targets report p50/p95/p99 from the sketch."""
    monitor, _ = _monitor()
    for i in range(1, 101):
        monitor.record("dependency", "db sqlite", i / 1000, False)
    target = monitor.targets()[0]
    assert target.kind == "dependency"
    assert target.p50_ms == pytest.approx(51, rel=0.01) and target.p95_ms == pytest.approx(95, rel=0.01) and target.p99_ms == pytest.approx(99, rel=0.01)


def test_policy_validation() -> None:
    """Inconsistent thresholds raise ConfigError."""
    with pytest.raises(otel_kit.ConfigError, match="error_rate"):
        HealthPolicy(error_rate_degraded=0.5, error_rate_unhealthy=0.1)
    with pytest.raises(otel_kit.ConfigError, match="window"):
        HealthPolicy(window="1h")


def test_checks_run_concurrently_and_time_out() -> None:
    """Checks run concurrently (a barrier only two parallel checks can pass), a hanging one is unhealthy."""
    monitor, _ = _monitor()
    barrier = threading.Barrier(2, timeout=5)
    monitor.register_check("a", lambda: barrier.wait() is not None)
    monitor.register_check("b", lambda: barrier.wait() is not None)

    async def hang() -> None:
        await asyncio.sleep(60)

    monitor.register_check("hang", hang, timeout=0.2)
    monitor.register_check("broken", lambda: 1 / 0)
    monitor.register_check("degraded", lambda: (Status.DEGRADED, "slow disk"), critical=False)
    results = {r.name: r for r in asyncio.run(monitor.run_checks())}
    assert results["a"].status is Status.HEALTHY and results["b"].status is Status.HEALTHY
    assert results["hang"].status is Status.UNHEALTHY and "timed out" in results["hang"].detail
    assert results["broken"].status is Status.UNHEALTHY and "ZeroDivisionError" in results["broken"].detail
    assert results["degraded"].status is Status.DEGRADED


def test_database_and_default_checks() -> None:
    """The database check uses the app's engine; disk/memory/CPU report their headroom."""
    from sqlalchemy import create_engine

    monitor, _ = _monitor()
    register_default_checks(monitor, engine=create_engine("sqlite://"))
    results = {r.name: r for r in asyncio.run(monitor.run_checks())}
    assert results["database"].status is Status.HEALTHY and "sqlite reachable" in results["database"].detail
    assert {"disk", "memory", "cpu"} <= set(results) and "% used" in results["disk"].detail


def test_database_check_reports_unreachable() -> None:
    """An unreachable database makes the check unhealthy."""
    from sqlalchemy import create_engine

    check = database_check(create_engine("sqlite:////nonexistent-dir/x.db"))
    monitor, _ = _monitor()
    monitor.register_check("database", check)
    (result,) = asyncio.run(monitor.run_checks())
    assert result.status is Status.UNHEALTHY


def test_ready_endpoint_goes_503_and_back() -> None:
    """A failing route drives /health/ready to 503, and back to 200 once the window passes."""
    app = FastAPI()
    app.include_router(otel_kit.health_router())
    broken = {"on": True}

    @app.get("/checkout")
    def checkout() -> dict[str, str]:
        if broken["on"]:
            raise HTTPException(status_code=500)
        return {"ok": "yes"}

    with capture(health=True) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None
        clock = Clock()
        monitor.clock = clock
        client = TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000))  # /health/detailed: loopback only
        assert client.get("/health").json() == {"status": "alive"}
        assert client.get("/health/ready").status_code == 200
        for _ in range(25):
            client.get("/checkout")
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert any("GET /checkout" in reason and "errors" in reason for reason in ready.json()["reasons"])
        detailed = client.get("/health/detailed").json()
        assert detailed["routes"][0]["name"] == "GET /checkout" and detailed["routes"][0]["errors"] == 25
        assert not [s for s in cap.spans if s.attributes.get("http.route", "").startswith("/health")]
        clock.now += 301
        broken["on"] = False
        for _ in range(25):
            client.get("/checkout")
        assert client.get("/health/ready").status_code == 200
        detailed = client.get("/health/detailed").json()
        assert [(t["name"], t["previous"], t["status"]) for t in detailed["transitions"] if t["kind"] == "route"] == [
            ("GET /checkout", "healthy", "unhealthy"), ("GET /checkout", "unhealthy", "healthy"),
        ]
        changed = [r for r in cap.log_records("otel_kit.health.changed") if r.attributes["target.kind"] == "route"]
        assert [(r.attributes["health.status"], r.severity_text) for r in changed] == [("unhealthy", "WARN"), ("healthy", "INFO")]
        assert "GET /checkout" in str(changed[0].body) and "errors over 5m" in changed[0].attributes["health.reason"]


def test_detailed_endpoint_token() -> None:
    """/health/detailed needs the token when one is configured."""
    app = FastAPI()
    app.include_router(otel_kit.health_router(token="s3cret"))
    with capture(health=True):
        client = TestClient(app)
        assert client.get("/health/detailed").status_code == 401
        assert client.get("/health/detailed", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200


def test_health_status_metric() -> None:
    """otel_kit.health.status exports per-target and overall status for alerting."""
    with capture(health=True) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None
        for _ in range(30):
            monitor.record("route", "GET /bad", 0.01, True)
        points = {(p.attributes["target.kind"], p.attributes["target.name"]): p.value for p in cap.metric_points("otel_kit.health.status")}
        assert points[("route", "GET /bad")] == 2 and points[("overall", "service")] == 2


def test_processor_cost_stays_off_request_path() -> None:
    """Recording is in-memory only: 10,000 spans are processed without any I/O or thread."""
    monitor, _ = _monitor()
    threads = threading.active_count()
    started = time.perf_counter()
    for i in range(10_000):
        monitor.record("route", f"GET /r{i % 5}", 0.001, False)
    assert threading.active_count() == threads
    print(f"health.record: {(time.perf_counter() - started) / 10_000 * 1e6:.2f} µs per span (measured, not asserted)")


def _poll(predicate: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_checks_run_in_the_background_without_any_endpoint_call() -> None:
    """A database that dies is reported by the health metric and a transition, with nobody calling /health."""
    state = {"up": True, "calls": 0}

    def database() -> bool:
        state["calls"] += 1
        return state["up"]

    with capture(health_check_interval=0.02) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None and monitor.checks_in_background
        monitor.register_check("database", database)
        assert _poll(lambda: state["calls"] >= 2)
        assert cap.metric_value("otel_kit.health.status", **{"target.kind": "component", "target.name": "database"}) == 0
        state["up"] = False
        assert _poll(lambda: any(t.name == "database" and t.status is Status.UNHEALTHY for t in monitor.transitions))
        assert cap.metric_value("otel_kit.health.status", **{"target.kind": "component", "target.name": "database"}) == 2


def test_report_reads_the_latest_background_result() -> None:
    """With background checks running, an endpoint reads the last result instead of running the checks again."""
    calls = []
    with capture(health_check_interval=3600) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None
        monitor.register_check("cache", lambda: calls.append(1) or True)
        assert _poll(lambda: len(monitor._last_checks) == 1)
        before = len(calls)
        report = asyncio.run(monitor.report())
        assert len(calls) == before and [c["name"] for c in report["checks"]] == ["cache"]


def test_interval_zero_runs_checks_only_on_request() -> None:
    """health_check_interval=0 starts no thread; report() runs the checks itself."""
    with capture(health_check_interval=0) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None and not monitor.checks_in_background
        monitor.register_check("cache", lambda: True)
        assert asyncio.run(monitor.report())["checks"][0]["status"] == "healthy"


def test_shutdown_stops_the_background_checks() -> None:
    """No check thread outlives shutdown()."""
    with capture(health_check_interval=0.02) as cap:
        monitor = cap.telemetry.health
        assert monitor is not None
    assert not monitor.checks_in_background
    assert not any(t.name == "otel-kit-health-checks" for t in threading.enumerate())
