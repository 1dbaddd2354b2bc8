"""aiohttp server: an application created after setup() gets SERVER spans that continue the caller's trace and feed health."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


async def _serve_and_call() -> tuple[int, int]:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    async with TestServer(app) as server, ClientSession() as session:
        async with session.get(server.make_url("/items/7")) as ok:
            await ok.read()
        async with session.get(server.make_url("/missing")) as missing:
            await missing.read()
        return ok.status, missing.status


def test_server_span_is_the_child_of_the_client_span() -> None:
    """aiohttp client -> aiohttp server in one process: the SERVER span's parent is the CLIENT span; health counts the route."""
    with capture() as cap:
        assert asyncio.run(_serve_and_call()) == (200, 404)
        servers = [s for s in cap.spans if s.kind is SpanKind.SERVER]
        clients = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(servers) == 2 and len(clients) == 2
        assert servers[0].parent.span_id == clients[0].context.span_id
        assert servers[0].attributes["http.response.status_code"] == 200
        assert any(target.kind == "route" for target in cap.telemetry.health.targets())
