"""What the Flask blueprint and the Django URL include share: protection and report building.

Same rules as the FastAPI routers (``health_router``): ``/health`` and ``/health/live`` are
liveness (no checks, no I/O), ``/health/ready`` is 503 when unhealthy, ``/health/detailed`` and the
slow-query report need the token (``token=`` or the environment variable, read per request) or,
without one, a loopback client that no proxy header speaks for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from otel_kit.analysis.health import HealthMonitor
from otel_kit.analysis.health_router import HEALTH_TOKEN_VARIABLE, guard
from otel_kit.analysis.slow_queries import current_report
from otel_kit.analysis.slow_query_router import SLOW_QUERY_TOKEN_VARIABLE
from otel_kit.config.settings import ConfigError
from otel_kit.providers import active

NOT_SET_UP = {"status": "unknown", "reasons": ["otel-kit health is not set up"]}


def client(headers: Any, address: str | None) -> Any:
    """The shape ``guard`` reads (``.headers``, ``.client.host``) from a framework's request parts."""
    return SimpleNamespace(headers=headers, client=SimpleNamespace(host=address or "") if address else None)


def active_monitor(monitor: HealthMonitor | None) -> HealthMonitor | None:
    if monitor is not None:
        return monitor
    state = active.current()
    return state.health if state is not None else None


def run(coroutine: Any) -> Any:
    """Run the monitor's async report from a sync view, also from a thread whose loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=work, name="otel-kit-health-report", daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return result[0]


def readiness(monitor: HealthMonitor | None) -> tuple[dict[str, Any], int]:
    active = active_monitor(monitor)
    if active is None:
        return dict(NOT_SET_UP), 200
    report = run(active.report())
    return {"status": report["status"], "reasons": report["reasons"]}, 503 if report["status"] == "unhealthy" else 200


def detailed(monitor: HealthMonitor | None, token: str | None, request: Any) -> tuple[dict[str, Any], int]:
    refused = guard(request, token, HEALTH_TOKEN_VARIABLE, headers=("x-health-token",))
    if refused is not None:
        return {"error": refused[1]}, refused[0]
    active = active_monitor(monitor)
    if active is None:
        return dict(NOT_SET_UP), 200
    report = run(active.report())
    return report, 503 if report["status"] == "unhealthy" else 200


def slow_queries(token: str | None, request: Any, arguments: Mapping[str, str]) -> tuple[Any, int]:
    refused = guard(request, token, SLOW_QUERY_TOKEN_VARIABLE)
    if refused is not None:
        return {"error": refused[1]}, refused[0]
    try:
        top = int(arguments.get("top", "10"))
    except ValueError:
        return {"error": f"invalid top={arguments.get('top')!r}: expected an integer"}, 400
    try:
        return current_report(top=max(1, min(top, 100)), order=arguments.get("order", "total")), 200
    except ConfigError as exc:
        return {"error": str(exc)}, 400
