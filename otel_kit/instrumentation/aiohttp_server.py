"""aiohttp server: the contrib instrumentor (``web.Application`` instances created after ``setup()``).

Its SERVER spans feed the health analysis like every other framework's.
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="aiohttp-server",
    library="aiohttp",
    extra="aiohttp",
    requires=("aiohttp>=3.9", contrib_requirement("aiohttp-server"),),
    instrumentor="opentelemetry.instrumentation.aiohttp_server:AioHttpServerInstrumentor",
    summary="SERVER span per request (applications created after setup()), health",
)
