"""Opt-in FastAPI endpoint for the slow-query report (it reveals query shapes: protect it).

No postponed annotations here: FastAPI must see the real `Request` class, imported lazily.
"""


import hmac
from typing import Any, Optional

from otel_kit.instrumentation._support import require


def slow_query_router(path: str = "/debug/slow-queries", token: Optional[str] = None) -> Any:  # noqa: UP045
    fastapi = require("fastapi", "fastapi")
    from fastapi import Request
    from fastapi.responses import JSONResponse

    router = fastapi.APIRouter()

    @router.get(path, include_in_schema=False)
    async def report(request: Request, top: int = 10, order: str = "total") -> Any:
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "a valid token is required"}, status_code=401)
        from otel_kit import ConfigError, slow_query_report

        try:
            return slow_query_report(top=max(1, min(top, 100)), order=order)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return router
