"""Opt-in FastAPI endpoint for the slow-query report.

It reveals query shapes and routes, so it needs the token (``token=`` or
``OTEL_KIT_SLOW_QUERY_TOKEN``) when one is set, and otherwise answers loopback clients only. The
route has a tag and an explicit operation id, so custom ``generate_unique_id_function``s work.
No postponed annotations here: FastAPI must see the real `Request` class, imported lazily.
"""


from typing import Any, Optional

from otel_kit.analysis.health_router import TAG, check_token, guard, route_path
from otel_kit.analysis.slow_queries import current_report
from otel_kit.config import environment as env
from otel_kit.config.settings import ConfigError
from otel_kit.instrumentation._support import require

SLOW_QUERY_TOKEN_VARIABLE = env.OTEL_KIT_SLOW_QUERY_TOKEN


def slow_query_router(path: str = "/debug/slow-queries", token: Optional[str] = None, *, tags: Optional[list[str]] = None) -> Any:  # noqa: UP045
    """An ``APIRouter`` serving ``slow_query_report()`` as JSON at ``path`` (``?top=10&order=total|p95``)."""
    fastapi = require("fastapi", "fastapi")
    from fastapi import Request
    from fastapi.responses import JSONResponse

    route = route_path("path", path, "/debug/slow-queries")
    token = check_token(token)
    router = fastapi.APIRouter(tags=list(tags or [TAG]))

    @router.get(route, include_in_schema=False, name="slow_queries", operation_id="otel_kit_slow_queries")
    async def report(request: Request, top: int = 10, order: str = "total") -> Any:
        refused = guard(request, token, SLOW_QUERY_TOKEN_VARIABLE)
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        try:
            return current_report(top=max(1, min(top, 100)), order=order)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return router
