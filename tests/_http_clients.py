"""The checks every HTTP client integration passes (httpx, requests, urllib3); each test file
passes its library's way of sending one GET and reading the body."""

from __future__ import annotations

from collections.abc import Callable

from _servers import http_server
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture

Get = Callable[[str], bytes]


def check_client_span(name: str, get: Get) -> None:
    """A request inside a span: one CLIENT span under it, and the server receives its traceparent."""
    with capture() as cap, http_server() as (base, seen):
        with trace.get_tracer("t").start_as_current_span("job") as parent:
            assert get(f"{base}/items/1") == b"ok"
        clients = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(clients) == 1, [s.name for s in cap.spans]
        (span,) = clients
        assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
        assert span.attributes is not None and span.attributes["http.request.method"] == "GET"
        assert seen[0]["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
        assert name in cap.telemetry.instrumented


def check_switched_off(get: Get) -> None:
    """instrument= without the client's integration: no CLIENT span, no traceparent sent."""
    with capture(instrument=["logging"]) as cap, http_server() as (base, seen):
        assert get(f"{base}/items/1") == b"ok"
        assert not [s for s in cap.spans if s.kind is SpanKind.CLIENT] and "traceparent" not in seen[0]
