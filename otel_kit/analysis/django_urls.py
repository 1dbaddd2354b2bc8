"""Django URL patterns for health and the slow-query report, the twins of ``health_router()`` and
``slow_query_router()``::

    urlpatterns = [
        ...,
        path("", include(health_urls())),          # /health, /health/live, /health/ready, /health/detailed
        path("", include(slow_query_urls())),      # /debug/slow-queries?top=10&order=total
    ]

``/health/detailed`` and the slow-query report need the token (``token=``,
``OTEL_KIT_HEALTH_TOKEN`` / ``OTEL_KIT_SLOW_QUERY_TOKEN``) when one is set, else they answer
loopback clients only; the default ``excluded_urls`` keep ``/health*`` out of traces.
"""

from __future__ import annotations

from typing import Any

from otel_kit.analysis import sync_routes
from otel_kit.analysis.health import HealthMonitor
from otel_kit.analysis.health_router import check_token, route_path
from otel_kit.instrumentation._support import require


def _route(setting: str, value: Any, example: str) -> str:
    """Django routes have no leading slash; accept the same spelling as the other frameworks."""
    return route_path(setting, value, example).lstrip("/")


def _json(payload: Any, status: int) -> Any:
    from django.http import JsonResponse

    return JsonResponse(payload, status=status, safe=isinstance(payload, dict))


def _client(request: Any) -> Any:
    return sync_routes.client(request.headers, request.META.get("REMOTE_ADDR"))


def health_urls(monitor: HealthMonitor | None = None, *, prefix: str = "/health", token: str | None = None) -> list[Any]:
    """URL patterns to ``include()``; use the monitor ``setup()`` installed by default."""
    require("django", "django")
    from django.urls import path
    from django.views.decorators.http import require_GET

    base = _route("prefix", prefix, "/health")
    token = check_token(token)

    @require_GET
    def liveness(request: Any) -> Any:
        return _json({"status": "alive"}, 200)

    @require_GET
    def readiness(request: Any) -> Any:
        return _json(*sync_routes.readiness(monitor))

    @require_GET
    def detailed(request: Any) -> Any:
        return _json(*sync_routes.detailed(monitor, token, _client(request)))

    return [
        path(base, liveness, name="otel_kit_health"),
        path(base + "/live", liveness, name="otel_kit_health_live"),
        path(base + "/ready", readiness, name="otel_kit_health_ready"),
        path(base + "/detailed", detailed, name="otel_kit_health_detailed"),
    ]


def slow_query_urls(path: str = "/debug/slow-queries", token: str | None = None) -> list[Any]:
    """A URL pattern serving ``slow_query_report()`` as JSON at ``path`` (``?top=10&order=total|p95``)."""
    require("django", "django")
    from django.urls import path as route
    from django.views.decorators.http import require_GET

    target = _route("path", path, "/debug/slow-queries")
    token = check_token(token)

    @require_GET
    def report(request: Any) -> Any:
        return _json(*sync_routes.slow_queries(token, _client(request), request.GET))

    return [route(target, report, name="otel_kit_slow_queries")]
