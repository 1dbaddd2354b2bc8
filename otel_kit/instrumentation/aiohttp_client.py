"""aiohttp client: the contrib instrumentor (every ``ClientSession``).
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="aiohttp-client",
    library="aiohttp",
    extra="aiohttp",
    requires=("aiohttp>=3.9", contrib_requirement("aiohttp-client"),),
    instrumentor="opentelemetry.instrumentation.aiohttp_client:AioHttpClientInstrumentor",
    summary="CLIENT span per request, trace context propagated",
)
