"""httpx: the contrib client instrumentor (CLIENT spans, trace context on outgoing requests)."""

from __future__ import annotations

from otel_kit.instrumentation import httpclients

INTEGRATION = httpclients.integration("httpx", "httpx>=0.24,<1")
