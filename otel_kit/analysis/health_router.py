"""FastAPI routes for health: liveness, readiness and a detailed JSON report.

``/health`` is liveness: always 200 while the process serves, no checks, no I/O.
``/health/ready`` runs the checks and reads span health: 503 when unhealthy.
``/health/detailed`` returns everything; protected by a token when one is configured.
The default ``excluded_urls`` keep all three out of traces.
No postponed annotations here: FastAPI must see the real ``Request`` class, imported lazily.
"""


import hmac
import os
from typing import Any, Optional

from otel_kit.analysis.health import HealthMonitor
from otel_kit.instrumentation._support import require

HEALTH_TOKEN_VARIABLE = "OTEL_KIT_HEALTH_TOKEN"


def health_router(monitor: Optional[HealthMonitor] = None, *, prefix: str = "/health", token: Optional[str] = None) -> Any:  # noqa: UP045
    """An ``APIRouter`` to ``app.include_router(...)``. Uses the monitor ``setup()`` installed by default."""
    fastapi = require("fastapi", "fastapi")
    from fastapi import Request
    from fastapi.responses import JSONResponse

    secret = token if token is not None else os.environ.get(HEALTH_TOKEN_VARIABLE)
    router = fastapi.APIRouter()

    def resolve_monitor() -> Optional[HealthMonitor]:  # noqa: UP045
        if monitor is not None:
            return monitor
        from otel_kit import telemetry

        state = telemetry.current()
        return state.health if state is not None else None

    @router.get(prefix, include_in_schema=False)
    async def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(prefix + "/ready", include_in_schema=False)
    async def readiness() -> Any:
        active = resolve_monitor()
        if active is None:
            return JSONResponse({"status": "unknown", "reasons": ["otel-kit health is not set up"]}, status_code=200)
        report = await active.report()
        code = 503 if report["status"] == "unhealthy" else 200
        return JSONResponse({"status": report["status"], "reasons": report["reasons"]}, status_code=code)

    @router.get(prefix + "/detailed", include_in_schema=False)
    async def detailed(request: Request) -> Any:
        if secret:
            given = request.headers.get("x-health-token") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return JSONResponse({"error": "a valid health token is required"}, status_code=401)
        active = resolve_monitor()
        if active is None:
            return JSONResponse({"status": "unknown", "reasons": ["otel-kit health is not set up"]})
        report = await active.report()
        return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)

    return router
