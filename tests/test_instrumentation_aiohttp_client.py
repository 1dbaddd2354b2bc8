"""aiohttp client: the contrib instrumentor through the registry: a CLIENT span whose context reaches the server."""

from __future__ import annotations

import asyncio

from _servers import http_server
from aiohttp import ClientSession
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_client_span_and_propagated_context() -> None:
    """A request inside a span: one CLIENT span under it; the server receives its traceparent; health lists the host."""

    async def call(base: str) -> str:
        async with ClientSession() as session, session.get(f"{base}/items/1") as response:
            return await response.text()

    with capture() as cap, http_server() as (base, seen):
        with trace.get_tracer("t").start_as_current_span("job") as parent:
            assert asyncio.run(call(base)) == "ok"
        (span,) = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert span.parent.span_id == parent.get_span_context().span_id
        assert seen[0]["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
        assert [t.name for t in cap.telemetry.health.targets()] == ["http 127.0.0.1"]
