"""otel-kit: one call to configure OpenTelemetry traces, metrics and logs for a Python service.

    import otel_kit
    telemetry = otel_kit.setup(service_name="shop")
"""

from __future__ import annotations

from typing import Any

# First: importing the settings makes the SDK importable whatever OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT holds.
from otel_kit.config.settings import ConfigError  # isort: skip
from otel_kit.analysis.health import HealthPolicy, Status
from otel_kit.analysis.slow_queries import current_report
from otel_kit.config.version import __version__
from otel_kit.signals import ai, business, security
from otel_kit.signals.business import counter, gauge, histogram, timed, traced, up_down_counter
from otel_kit.telemetry import Telemetry, current, setup, shutdown


def instrument_fastapi(app: Any) -> Any:
    """Instrument one FastAPI app explicitly (``setup()`` already covers apps automatically)."""
    from otel_kit.instrumentation import fastapi as integration

    return integration.instrument_app(app)


def instrument_sqlalchemy(engine: Any) -> Any:
    """Instrument a SQLAlchemy engine explicitly (``setup()`` already covers all engines)."""
    from otel_kit.instrumentation import sqlalchemy as integration

    return integration.instrument_engine(engine)


def health_router(**kwargs: Any) -> Any:
    """FastAPI router with ``/health`` and ``/health/live``, ``/health/ready`` and ``/health/detailed``."""
    from otel_kit.analysis.health_router import health_router as build

    return build(**kwargs)


def slow_query_report(top: int = 10, order: str = "total") -> dict[str, Any]:
    """Top query fingerprints by total time (or ``p95``, ``max``, ``calls``) and N+1 suspects."""
    return current_report(top, order)


def slow_query_router(path: str = "/debug/slow-queries", token: str | None = None, **kwargs: Any) -> Any:
    """Opt-in FastAPI endpoint serving :func:`slow_query_report` as JSON."""
    from otel_kit.analysis.slow_query_router import slow_query_router as build

    return build(path=path, token=token, **kwargs)


__all__ = [
    "ConfigError",
    "HealthPolicy",
    "Status",
    "Telemetry",
    "__version__",
    "ai",
    "business",
    "counter",
    "current",
    "gauge",
    "health_router",
    "histogram",
    "instrument_fastapi",
    "instrument_sqlalchemy",
    "security",
    "setup",
    "shutdown",
    "slow_query_report",
    "slow_query_router",
    "timed",
    "traced",
    "up_down_counter",
]
