"""FastAPI routes for health: liveness, readiness and a detailed JSON report.

``/health`` and ``/health/live`` are liveness: always 200 while the process serves, no checks, no I/O.
``/health/ready`` runs the checks and reads span health: 503 when unhealthy.
``/health/detailed`` returns everything (route names, dependencies, figures): it needs the token
(``token=`` or ``OTEL_KIT_HEALTH_TOKEN``) when one is set, else it answers loopback clients only.
Every route has a tag and an explicit operation id, so apps with their own
``generate_unique_id_function`` (e.g. ``f"{route.tags[0]}-{route.name}"``) include the router as is.
The default ``excluded_urls`` keep all of them out of traces.
No postponed annotations here: FastAPI must see the real ``Request`` class, imported lazily.
"""


import hmac
import ipaddress
import os
from typing import Any, Optional

from otel_kit.analysis.health import HealthMonitor
from otel_kit.config import environment as env
from otel_kit.config.settings import ConfigError
from otel_kit.instrumentation._support import require
from otel_kit.providers import active

HEALTH_TOKEN_VARIABLE = env.OTEL_KIT_HEALTH_TOKEN
TAG = "otel-kit"
# A proxy in front of the app connects from loopback on behalf of remote clients; these headers
# say a request came through one, so it is not treated as local.
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(request: Any) -> bool:
    """The client is on this host and no proxy header says it speaks for someone else."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def guard(request: Any, token: Optional[str], variable: str, *, headers: tuple[str, ...] = ()) -> Optional[tuple[int, str]]:  # noqa: UP045
    """None when ``request`` may see a protected endpoint, else (status, message).

    ``token`` (an argument) wins over ``variable`` (read per request, so a rotated secret applies
    without a restart). With neither, only loopback clients are answered.
    """
    secret = token if token is not None else os.environ.get(variable, "")
    if secret:
        given = next((request.headers[h] for h in headers if request.headers.get(h)), None)
        if given is None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), secret.encode()):
            return None
        return 401, "a valid token is required (Authorization: Bearer ...)"
    if is_loopback(request):
        return None
    return 403, f"answered to loopback clients only; set {variable} to allow token access from elsewhere"


def route_path(setting: str, value: Any, example: str) -> str:
    """A router path without its trailing slash; anything else is one ``ConfigError``."""
    if not isinstance(value, str) or not value.startswith("/") or not value.rstrip("/"):
        raise ConfigError(setting, value, f"a path starting with '/', e.g. {example!r}")
    return value.rstrip("/")


def check_token(value: Any) -> Optional[str]:  # noqa: UP045
    if value is not None and not isinstance(value, str):
        raise ConfigError("token", f"<{type(value).__name__}>", "a string, or None to read it from the environment")
    return value


def health_router(monitor: Optional[HealthMonitor] = None, *, prefix: str = "/health", token: Optional[str] = None, tags: Optional[list[str]] = None) -> Any:  # noqa: UP045
    """An ``APIRouter`` to ``app.include_router(...)``. Uses the monitor ``setup()`` installed by default."""
    fastapi = require("fastapi", "fastapi")
    from fastapi import Request
    from fastapi.responses import JSONResponse

    base = route_path("prefix", prefix, "/health")
    token = check_token(token)
    router = fastapi.APIRouter(tags=list(tags or [TAG]))
    ids = "otel_kit_health"

    def resolve_monitor() -> Optional[HealthMonitor]:  # noqa: UP045
        if monitor is not None:
            return monitor
        state = active.current()
        return state.health if state is not None else None

    async def liveness() -> dict[str, str]:
        return {"status": "alive"}

    router.add_api_route(base, liveness, methods=["GET"], include_in_schema=False, name="health", operation_id=f"{ids}")
    router.add_api_route(base + "/live", liveness, methods=["GET"], include_in_schema=False, name="health_live", operation_id=f"{ids}_live")

    @router.get(base + "/ready", include_in_schema=False, name="health_ready", operation_id=f"{ids}_ready")
    async def readiness() -> Any:
        active = resolve_monitor()
        if active is None:
            return JSONResponse({"status": "unknown", "reasons": ["otel-kit health is not set up"]}, status_code=200)
        report = await active.report()
        code = 503 if report["status"] == "unhealthy" else 200
        return JSONResponse({"status": report["status"], "reasons": report["reasons"]}, status_code=code)

    @router.get(base + "/detailed", include_in_schema=False, name="health_detailed", operation_id=f"{ids}_detailed")
    async def detailed(request: Request) -> Any:
        refused = guard(request, token, HEALTH_TOKEN_VARIABLE, headers=("x-health-token",))
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        active = resolve_monitor()
        if active is None:
            return JSONResponse({"status": "unknown", "reasons": ["otel-kit health is not set up"]})
        report = await active.report()
        return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)

    return router
