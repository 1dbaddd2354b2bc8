"""Redis (sync and asyncio clients): the contrib instrumentor.

Commands become CLIENT spans with ``db.system.name=redis`` and the command without its values;
the slow-query analysis times them (slow commands are reported) but never counts them as an
N+1: many cheap commands per request are how a cache is used.
"""

from __future__ import annotations

from otel_kit.instrumentation._registry import Integration, contrib_requirement

INTEGRATION = Integration(
    name="redis",
    library="redis",
    extra="redis",
    requires=("redis>=4.5", contrib_requirement("redis")),
    instrumentor="opentelemetry.instrumentation.redis:RedisInstrumentor",
    summary="CLIENT span per command (sync and asyncio), slow commands (never an N+1), health of the dependency",
)
