"""Plain Starlette: one SERVER span per request with the route template, apps before or after setup(); FastAPI untouched."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_kit.testing import capture


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["id"]})


def test_route_template_and_one_span_per_request() -> None:
    """Apps made before and after setup(): one SERVER span each, named by the route template; unmatched keeps the method."""
    before = Starlette(routes=[Route("/items/{id:int}", item)])
    with capture() as cap:
        after = Starlette(routes=[Route("/things/{id:int}", item)])
        assert TestClient(before).get("/items/3").json() == {"id": 3}
        assert TestClient(after).get("/things/4").status_code == 200
        assert TestClient(after).get("/nothing").status_code == 404
        servers = [s for s in cap.spans if s.kind is SpanKind.SERVER]
        assert [s.name for s in servers] == ["GET /items/{id:int}", "GET /things/{id:int}", "GET"]
        assert servers[0].attributes["http.route"] == "/items/{id:int}"


def test_fastapi_apps_keep_their_own_single_span() -> None:
    """A FastAPI app (a Starlette subclass) still gets exactly one SERVER span, from the FastAPI integration."""
    app = FastAPI()

    @app.get("/x/{n}")
    def x(n: int) -> dict[str, int]:
        return {"n": n}

    with capture() as cap:
        TestClient(app).get("/x/1")
        assert [s.name for s in cap.spans if s.kind is SpanKind.SERVER] == ["GET /x/{n}"]


def test_security_inspection_on_starlette() -> None:
    """security=True: an attack on a plain Starlette app is a finding on its span."""
    app = Starlette(routes=[Route("/items/{id:int}", item)])
    with capture(security=True) as cap:
        TestClient(app).get("/items/1", params={"q": "<script>alert(1)</script>"})
        (server,) = [s for s in cap.spans if s.kind is SpanKind.SERVER]
        assert [e.name for e in server.events] == ["security.attack.xss"]
