"""Flask blueprints for health and the slow-query report, the twins of ``health_router()`` and
``slow_query_router()``::

    app.register_blueprint(health_blueprint())        # /health, /health/live, /health/ready, /health/detailed
    app.register_blueprint(slow_query_blueprint())    # /debug/slow-queries?top=10&order=total

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


def health_blueprint(monitor: HealthMonitor | None = None, *, prefix: str = "/health", token: str | None = None, name: str = "otel_kit_health") -> Any:
    """A ``flask.Blueprint`` to ``app.register_blueprint(...)``; uses the monitor ``setup()`` installed by default."""
    flask = require("flask", "flask")
    base = route_path("prefix", prefix, "/health")
    token = check_token(token)
    blueprint = flask.Blueprint(name, __name__)

    def liveness() -> Any:
        return flask.jsonify({"status": "alive"})

    def readiness() -> Any:
        payload, status = sync_routes.readiness(monitor)
        return flask.jsonify(payload), status

    def detailed() -> Any:
        request = flask.request
        payload, status = sync_routes.detailed(monitor, token, sync_routes.client(request.headers, request.remote_addr))
        return flask.jsonify(payload), status

    blueprint.add_url_rule(base, "health", liveness, methods=["GET"])
    blueprint.add_url_rule(base + "/live", "health_live", liveness, methods=["GET"])
    blueprint.add_url_rule(base + "/ready", "health_ready", readiness, methods=["GET"])
    blueprint.add_url_rule(base + "/detailed", "health_detailed", detailed, methods=["GET"])
    return blueprint


def slow_query_blueprint(path: str = "/debug/slow-queries", token: str | None = None, *, name: str = "otel_kit_slow_queries") -> Any:
    """A ``flask.Blueprint`` serving ``slow_query_report()`` as JSON at ``path`` (``?top=10&order=total|p95``)."""
    flask = require("flask", "flask")
    route = route_path("path", path, "/debug/slow-queries")
    token = check_token(token)
    blueprint = flask.Blueprint(name, __name__)

    def report() -> Any:
        request = flask.request
        payload, status = sync_routes.slow_queries(token, sync_routes.client(request.headers, request.remote_addr), request.args)
        return flask.jsonify(payload), status

    blueprint.add_url_rule(route, "slow_queries", report, methods=["GET"])
    return blueprint
