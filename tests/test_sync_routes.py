"""Shared parts of the Flask and Django health routes: guard, readiness and report, also from a thread with a running loop."""

from __future__ import annotations

import asyncio

from otel_kit.analysis import sync_routes
from otel_kit.analysis.health import HealthMonitor, HealthPolicy


def test_readiness_and_detailed_follow_the_policy() -> None:
    """Ready is 503 once a route is unhealthy; detailed answers a loopback client and refuses a proxied one."""
    monitor = HealthMonitor(HealthPolicy(min_requests=2))
    assert sync_routes.readiness(monitor) == ({"status": "healthy", "reasons": []}, 200)
    for _ in range(3):
        monitor.record("route", "GET /pay", 0.01, True)
    payload, status = sync_routes.readiness(monitor)
    assert status == 503 and payload["status"] == "unhealthy"
    local = sync_routes.client({}, "127.0.0.1")
    proxied = sync_routes.client({"x-forwarded-for": "203.0.113.1"}, "127.0.0.1")
    assert sync_routes.detailed(monitor, None, local)[1] == 503
    assert sync_routes.detailed(monitor, None, proxied)[1] == 403
    assert sync_routes.detailed(monitor, "tok", sync_routes.client({"authorization": "Bearer tok"}, "198.51.100.2"))[1] == 503


def test_report_from_inside_a_running_event_loop() -> None:
    """A sync view called from async code (Django's async-to-sync bridge): the report still runs."""
    monitor = HealthMonitor()

    async def view() -> int:
        return sync_routes.readiness(monitor)[1]

    assert asyncio.run(view()) == 200


def test_slow_query_arguments_are_validated() -> None:
    """top must be an integer and order one of the known keys: 400 with the reason otherwise."""
    local = sync_routes.client({}, "::1")
    assert sync_routes.slow_queries(None, local, {"top": "x"})[1] == 400
    assert sync_routes.slow_queries(None, local, {})[1] == 200
