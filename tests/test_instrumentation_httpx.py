"""httpx: the contrib client instrumentor through the registry: a CLIENT span whose context reaches the server."""

from __future__ import annotations

import httpx
from _servers import http_server
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_client_span_and_propagated_context() -> None:
    """A request inside a span: one CLIENT span under it, and the server receives its traceparent."""
    with capture() as cap, http_server() as (base, seen):
        with trace.get_tracer("t").start_as_current_span("job") as parent:
            with httpx.Client() as client:
                assert client.get(f"{base}/items/1").text == "ok"
        clients = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(clients) == 1, [s.name for s in cap.spans]
        (span,) = clients
        assert span.parent.span_id == parent.get_span_context().span_id
        assert span.attributes["http.request.method"] == "GET"
        assert seen[0]["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
        assert "httpx" in cap.telemetry.instrumented


def test_switched_off_with_instrument() -> None:
    """instrument= without httpx: no CLIENT span."""
    with capture(instrument=["logging"]) as cap, http_server() as (base, seen):
        with httpx.Client() as client:
            assert client.get(f"{base}/items/1").text == "ok"
        assert not [s for s in cap.spans if s.kind is SpanKind.CLIENT] and "traceparent" not in seen[0]
